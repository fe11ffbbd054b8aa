"""sigmoid' as z (1 - z): the formula for a, applied to z."""

from _student import ACTIVATIONS, backprop, sigmoid

MINE = dict(ACTIVATIONS)
MINE["sigmoid"] = (sigmoid, lambda z: z * (1 - z))


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, activations=MINE)
