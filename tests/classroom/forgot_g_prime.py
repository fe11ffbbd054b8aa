"""Formula 2 without g' in the hidden layers (the output layer keeps its g')."""
from _student import ACTIVATIONS, LOSS_DERIVATIVES, forward


def gradients(params, X, Y, spec):
    zs, acts = forward(params, X, spec)
    L = len(params)
    dA = LOSS_DERIVATIVES[spec.loss](acts[L], Y) / len(X)
    grads = [None] * L
    for layer in range(L, 0, -1):
        g = ACTIVATIONS[spec.activations[layer - 1]][1](zs[layer])
        delta = dA * g if layer == L else dA
        grads[layer - 1] = (acts[layer - 1].T @ delta, delta.sum(axis=0))
        dA = delta @ params[layer - 1][0].T
    return grads
