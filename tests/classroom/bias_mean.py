from _student import backprop


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, bias_sum=lambda delta: delta.mean(axis=0))
