"""Formula 3 with z^(l-1) where a^(l-1) belongs."""

from _student import ACTIVATIONS, LOSS_DERIVATIVES, forward


def gradients(params, X, Y, spec):
    zs, acts = forward(params, X, spec)
    L = len(params)
    dA = LOSS_DERIVATIVES[spec.loss](acts[L], Y) / len(X)
    grads = [None] * L
    for layer in range(L, 0, -1):
        delta = dA * ACTIVATIONS[spec.activations[layer - 1]][1](zs[layer])
        inputs = X if layer == 1 else zs[layer - 1]
        grads[layer - 1] = (inputs.T @ delta, delta.sum(axis=0))
        dA = delta @ params[layer - 1][0].T
    return grads
