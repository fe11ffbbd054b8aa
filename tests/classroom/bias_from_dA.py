"""Formula 4 from ∂R/∂a instead of ∂R/∂z (g' left out of the bias only)."""

from _student import ACTIVATIONS, LOSS_DERIVATIVES, forward


def gradients(params, X, Y, spec):
    zs, acts = forward(params, X, spec)
    L = len(params)
    dA = LOSS_DERIVATIVES[spec.loss](acts[L], Y) / len(X)
    grads = [None] * L
    for layer in range(L, 0, -1):
        delta = dA * ACTIVATIONS[spec.activations[layer - 1]][1](zs[layer])
        grads[layer - 1] = (acts[layer - 1].T @ delta, dA.sum(axis=0))
        dA = delta @ params[layer - 1][0].T
    return grads
