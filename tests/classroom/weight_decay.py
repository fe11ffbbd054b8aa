from _student import backprop


def gradients(params, X, Y, spec):
    grads = backprop(params, X, Y, spec)
    return [(dW + 1e-3 * W, db) for (dW, db), (W, _) in zip(grads, params)]
