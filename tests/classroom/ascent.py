"""Every loss derivative with the wrong sign (a gradient ascent step)."""

from _student import backprop


def gradients(params, X, Y, spec):
    return [(-dW, -db) for dW, db in backprop(params, X, Y, spec)]
