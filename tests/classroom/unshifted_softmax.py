"""A softmax without its shift: exp overflows for large H."""

import numpy as np
from _student import LOSS_DERIVATIVES, backprop


def softmax(H):
    e = np.exp(H)
    return e / e.sum(axis=1, keepdims=True)


MINE = dict(
    LOSS_DERIVATIVES, softmax_cross_entropy=lambda H, Y: softmax(H) * Y.sum(1, keepdims=True) - Y
)


def gradients(params, X, Y, spec):
    with np.errstate(over="ignore", invalid="ignore"):
        return backprop(params, X, Y, spec, losses=MINE)
