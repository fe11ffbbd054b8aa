"""Every sum written as a loop over units and examples, as a first course does it."""

import math


def act(name, z):
    if name == "identity":
        return z
    if name == "relu":
        return max(z, 0.0)
    if name == "leaky_relu":
        return z if z >= 0 else 0.01 * z
    if name == "sigmoid":
        return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
    if name == "tanh":
        return math.tanh(z)
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def slope(name, z):
    if name == "identity":
        return 1.0
    if name == "relu":
        return 1.0 if z > 0 else 0.0
    if name == "leaky_relu":
        return 1.0 if z >= 0 else 0.01
    if name == "sigmoid":
        s = act("sigmoid", z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - math.tanh(z) ** 2
    return act("sigmoid", z)


def dloss(loss, h, y):
    if loss == "square":
        return [2 * (a - b) for a, b in zip(h, y)]
    if loss == "output":
        return [1.0 for _ in h]
    if loss == "logistic":
        return [act("sigmoid", a) - b for a, b in zip(h, y)]
    top = max(h)
    e = [math.exp(a - top) for a in h]
    total = sum(e)
    return [sum(y) * v / total - b for v, b in zip(e, y)]


def gradients(params, X, Y, spec):
    n = len(X)
    L = len(params)
    dW = [[[0.0] * len(W[0]) for _ in W] for W, _ in params]
    db = [[0.0] * len(b) for _, b in params]
    for x, y in zip(X.tolist(), Y.tolist()):
        zs, acts = [None], [x]
        for (W, b), name in zip(params, spec.activations):
            z = [sum(acts[-1][i] * W[i][j] for i in range(len(W))) + b[j] for j in range(len(b))]
            zs.append(z)
            acts.append([act(name, v) for v in z])
        grad_a = [g / n for g in dloss(spec.loss, acts[L], y)]
        for layer in range(L, 0, -1):
            name = spec.activations[layer - 1]
            delta = [g * slope(name, z) for g, z in zip(grad_a, zs[layer])]
            for i in range(len(acts[layer - 1])):
                for j in range(len(delta)):
                    dW[layer - 1][i][j] += acts[layer - 1][i] * delta[j]
            for j in range(len(delta)):
                db[layer - 1][j] += delta[j]
            W = params[layer - 1][0]
            grad_a = [sum(W[i][j] * delta[j] for j in range(len(delta))) for i in range(len(W))]
    return [(a, b) for a, b in zip(dW, db)]
