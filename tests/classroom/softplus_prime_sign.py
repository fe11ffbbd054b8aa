import numpy as np
from _student import ACTIVATIONS, backprop

MINE = dict(ACTIVATIONS)
MINE["softplus"] = (ACTIVATIONS["softplus"][0], lambda z: 1 / (1 + np.exp(z)))


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, activations=MINE)
