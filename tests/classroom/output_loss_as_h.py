"""The output loss's derivative taken as H instead of 1."""

from _student import LOSS_DERIVATIVES, backprop

MINE = dict(LOSS_DERIVATIVES, output=lambda H, Y: H)


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, losses=MINE)
