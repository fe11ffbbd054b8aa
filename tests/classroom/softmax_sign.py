from _student import LOSS_DERIVATIVES, backprop, softmax

MINE = dict(
    LOSS_DERIVATIVES, softmax_cross_entropy=lambda H, Y: Y - softmax(H) * Y.sum(1, keepdims=True)
)


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, losses=MINE)
