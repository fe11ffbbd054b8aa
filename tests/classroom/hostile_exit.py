import sys


def gradients(params, X, Y, spec):
    sys.exit(3)
