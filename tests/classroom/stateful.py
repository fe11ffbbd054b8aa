"""Gradient buffers kept on the module and never reset between calls."""

import numpy as np
from _student import backprop

BUFFERS = {}


def gradients(params, X, Y, spec):
    out = []
    for k, (dW, db) in enumerate(backprop(params, X, Y, spec)):
        key = (k, dW.shape)
        if key not in BUFFERS:
            BUFFERS[key] = [np.zeros_like(dW), np.zeros_like(db)]
        BUFFERS[key][0] += dW
        BUFFERS[key][1] += db
        out.append((BUFFERS[key][0].copy(), BUFFERS[key][1].copy()))
    return out
