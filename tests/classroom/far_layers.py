"""g' left out of formula 2 in layers four or more below the output (depth 5 and more)."""

from _student import ACTIVATIONS, LOSS_DERIVATIVES, forward


def gradients(params, X, Y, spec):
    zs, acts = forward(params, X, spec)
    L = len(params)
    dA = LOSS_DERIVATIVES[spec.loss](acts[L], Y) / len(X)
    grads = [None] * L
    for layer in range(L, 0, -1):
        g = ACTIVATIONS[spec.activations[layer - 1]][1](zs[layer])
        delta = dA if L - layer >= 4 else dA * g
        grads[layer - 1] = (acts[layer - 1].T @ delta, delta.sum(axis=0))
        dA = delta @ params[layer - 1][0].T
    return grads
