import numpy as np
from _student import ACTIVATIONS, backprop

MINE = dict(ACTIVATIONS)
MINE["tanh"] = (np.tanh, lambda z: 1 - np.tanh(z))


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, activations=MINE)
