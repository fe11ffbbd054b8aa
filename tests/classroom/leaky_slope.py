import numpy as np
from _student import ACTIVATIONS, backprop

MINE = dict(ACTIVATIONS)
MINE["leaky_relu"] = (ACTIVATIONS["leaky_relu"][0], lambda z: np.where(z >= 0, 1.0, 0.1))


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, activations=MINE)
