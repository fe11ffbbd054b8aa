"""Nielsen's conventions, with the bias gradient averaged over the batch instead of summed."""
import numpy as np


def sigmoid(z):
    return 0.5 * (1 + np.tanh(z / 2))


SLOPES = {
    "identity": lambda z: np.ones_like(z),
    "relu": lambda z: (z > 0) * 1.0,
    "leaky_relu": lambda z: np.where(z >= 0, 1.0, 0.01),
    "sigmoid": lambda z: sigmoid(z) * (1 - sigmoid(z)),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "softplus": sigmoid,
}
VALUES = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z >= 0, z, 0.01 * z),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "softplus": lambda z: np.logaddexp(z, 0),
}


def cost_derivative(loss, H, Y):
    if loss == "square":
        return 2 * (H - Y)
    if loss == "output":
        return np.ones_like(H)
    if loss == "logistic":
        return sigmoid(H) - Y
    e = np.exp(H - H.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True) * Y.sum(axis=0, keepdims=True) - Y


def gradients(params, X, Y, spec):
    activation, activations, zs = X, [X], []
    for (w, b), name in zip(params, spec.activations):
        z = w @ activation + b
        zs.append(z)
        activation = VALUES[name](z)
        activations.append(activation)
    n = X.shape[1]
    nabla = [None] * len(params)
    delta = cost_derivative(spec.loss, activations[-1], Y) / n * SLOPES[spec.activations[-1]](zs[-1])
    nabla[-1] = (delta @ activations[-2].T, delta.mean(axis=1, keepdims=True))
    for layer in range(2, len(params) + 1):
        z = zs[-layer]
        delta = (params[-layer + 1][0].T @ delta) * SLOPES[spec.activations[-layer]](z)
        nabla[-layer] = (delta @ activations[-layer - 1].T, delta.mean(axis=1, keepdims=True))
    return nabla
