from _student import LOSS_DERIVATIVES, backprop

MINE = dict(LOSS_DERIVATIVES, square=lambda H, Y: H - Y)


def gradients(params, X, Y, spec):
    return backprop(params, X, Y, spec, losses=MINE)
