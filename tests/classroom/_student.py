"""A student's backprop, written the textbook way, with every piece a name that a submission of
the class can replace (tests/test_grade.py grades them)."""

import numpy as np


def sigmoid(z):
    return np.where(
        z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z)))
    )


ACTIVATIONS = {
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "leaky_relu": (lambda z: np.where(z >= 0, z, 0.01 * z), lambda z: np.where(z >= 0, 1.0, 0.01)),
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "softplus": (lambda z: np.logaddexp(z, 0), sigmoid),
}


def softmax(H):
    e = np.exp(H - H.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


LOSS_DERIVATIVES = {
    "square": lambda H, Y: 2 * (H - Y),
    "output": lambda H, Y: np.ones_like(H),
    "logistic": lambda H, Y: sigmoid(H) - Y,
    "softmax_cross_entropy": lambda H, Y: softmax(H) * Y.sum(axis=1, keepdims=True) - Y,
}


def forward(params, X, spec, activations=ACTIVATIONS):
    zs, acts = [None], [X]
    for (W, b), name in zip(params, spec.activations):
        zs.append(acts[-1] @ W + b)
        acts.append(activations[name][0](zs[-1]))
    return zs, acts


def backprop(
    params,
    X,
    Y,
    spec,
    activations=ACTIVATIONS,
    losses=LOSS_DERIVATIVES,
    scale=None,
    bias_sum=None,
    propagate=None,
):
    n = X.shape[0]
    zs, acts = forward(params, X, spec, activations)
    L = len(params)
    dA = losses[spec.loss](acts[L], Y) / (n if scale is None else scale(n))
    grads = [None] * L
    for layer in range(L, 0, -1):
        delta = dA * activations[spec.activations[layer - 1]][1](zs[layer])
        db = delta.sum(axis=0) if bias_sum is None else bias_sum(delta)
        grads[layer - 1] = (acts[layer - 1].T @ delta, db)
        W = params[layer - 1][0]
        dA = delta @ W.T if propagate is None else propagate(delta, W, layer, zs)
    return grads


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec)
