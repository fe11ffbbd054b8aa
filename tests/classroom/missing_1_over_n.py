from _student import backprop


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, scale=lambda n: 1)
