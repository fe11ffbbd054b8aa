"""Returns plain nested lists, and the sigmoid's slope from its value."""

from _student import ACTIVATIONS, backprop, sigmoid

MINE = dict(ACTIVATIONS)
MINE["sigmoid"] = (sigmoid, lambda z: (lambda s: s - s * s)(sigmoid(z)))


def gradients(params, X, Y, spec):
    return [(dW.tolist(), db.tolist()) for dW, db in backprop(params, X, Y, spec, activations=MINE)]
