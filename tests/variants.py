"""Correct implementations written differently from ``manual``: the harness must pass them all.

- ``per_node``: loops over examples, layers and units, each formula of the lecture written out
  for one node, in plain Python floats and the ``math`` module;
- ``cosh_tanh``: tanh' as 1 / cosh(z)^2, sigmoid' as e^-|z| / (1 + e^-|z|)^2, softplus' as
  e^min(z,0) / (1 + e^-|z|): other but equal formulas;
- ``reordered``: the batch summed in reverse order, example by example, and formula 1 as
  (W δ^T)^T: another summation order;
- ``jax_jit``: ``manual.gradients`` under ``jax.jit``, returning JAX arrays;
- ``nested_lists``: returns plain nested lists and tuples.
"""

from __future__ import annotations

import functools
import math

import numpy as np

import manual


def _g(name: str, z: float) -> float:
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
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))  # softplus


def _g_prime(name: str, z: float) -> float:
    if name == "identity":
        return 1.0
    if name == "relu":
        return 1.0 if z > 0 else 0.0
    if name == "leaky_relu":
        return 1.0 if z >= 0 else 0.01
    if name == "sigmoid":
        s = _g("sigmoid", z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - math.tanh(z) ** 2
    return _g("sigmoid", z)  # softplus' = sigmoid


def _dloss(loss: str, h: list[float], y: list[float]) -> list[float]:
    """∂ℓ/∂h_k for one example."""
    if loss == "square":
        return [2 * (hk - yk) for hk, yk in zip(h, y, strict=True)]
    if loss == "output":
        return [1.0] * len(h)
    if loss == "logistic":
        return [_g("sigmoid", hk) - yk for hk, yk in zip(h, y, strict=True)]
    top = max(h)
    e = [math.exp(hk - top) for hk in h]
    total = sum(e)
    return [ek / total * sum(y) - yk for ek, yk in zip(e, y, strict=True)]


def per_node(params, X, Y, spec):
    """The four formulas, one node at a time."""
    L, n = spec.depth, len(X)
    W = [None] + [np.asarray(Wl).tolist() for Wl, _ in params]
    b = [None] + [np.asarray(bl).tolist() for _, bl in params]
    width = spec.widths
    dW = [None] + [[[0.0] * width[m] for _ in range(width[m - 1])] for m in range(1, L + 1)]
    db = [None] + [[0.0] * width[m] for m in range(1, L + 1)]
    for i in range(n):
        a = [list(map(float, X[i]))]
        z = [None]
        for m in range(1, L + 1):
            zl = [
                sum(a[m - 1][p] * W[m][p][j] for p in range(width[m - 1])) + b[m][j]
                for j in range(width[m])
            ]
            z.append(zl)
            a.append([_g(spec.activations[m - 1], v) for v in zl])
        dH = [v / n for v in _dloss(spec.loss, a[L], list(map(float, Y[i])))]
        dz = [None] * (L + 2)
        for m in range(L, 0, -1):
            name = spec.activations[m - 1]
            if m == L:
                da = dH
            else:  # formula 1: ∂/∂a_j^(m) = Σ_k ∂/∂z_k^(m+1) W_jk^(m+1)
                da = [
                    sum(dz[m + 1][k] * W[m + 1][j][k] for k in range(width[m + 1]))
                    for j in range(width[m])
                ]
            dz[m] = [da[j] * _g_prime(name, z[m][j]) for j in range(width[m])]  # formula 2
            for p in range(width[m - 1]):
                for j in range(width[m]):
                    dW[m][p][j] += dz[m][j] * a[m - 1][p]  # formula 3
            for j in range(width[m]):
                db[m][j] += dz[m][j]  # formula 4
    return [
        (np.array(dW[m]).reshape(width[m - 1], width[m]), np.array(db[m])) for m in range(1, L + 1)
    ]


def _other_prime(name: str, z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        if name == "tanh":
            return 1 / np.cosh(z) ** 2
        small = np.exp(-np.abs(z))
        if name == "sigmoid":
            return small / (1 + small) ** 2
        if name == "softplus":
            return np.exp(np.minimum(z, 0)) / (1 + small)
    return manual.activation_derivative(np, name, z)


def cosh_tanh(params, X, Y, spec):
    """Vectorised, with other (equal) formulas for the activation derivatives."""
    forward = manual.forward(params, X, spec)
    dA = manual.loss_derivative(np, spec.loss, forward.A[-1], Y) / len(X)
    grads = []
    for m in range(spec.depth, 0, -1):
        delta = dA * _other_prime(spec.activations[m - 1], forward.Z[m])
        grads.append((forward.A[m - 1].T @ delta, delta.sum(axis=0)))
        dA = delta @ params[m - 1][0].T
    return grads[::-1]


def reordered(params, X, Y, spec):
    """Sums over the batch in reverse order, one example at a time; formula 1 as (W δ^T)^T."""
    forward = manual.forward(params, X, spec)
    dA = manual.loss_derivative(np, spec.loss, forward.A[-1], Y) / len(X)
    grads = []
    for m in range(spec.depth, 0, -1):
        delta = dA * manual.activation_derivative(np, spec.activations[m - 1], forward.Z[m])
        dW = np.zeros_like(params[m - 1][0])
        db = np.zeros_like(params[m - 1][1])
        for i in reversed(range(len(X))):
            dW += np.outer(forward.A[m - 1][i], delta[i])
            db += delta[i]
        grads.append((dW, db))
        dA = (params[m - 1][0] @ delta.T).T
    return grads[::-1]


@functools.cache
def _jitted():
    import jax

    return jax.jit(manual.gradients, static_argnames="spec")


def jax_jit(params, X, Y, spec):
    """``manual.gradients`` compiled by ``jax.jit``; returns JAX arrays."""
    import jax

    with jax.enable_x64(X.dtype == np.float64):
        return _jitted()(params, X, Y, spec)


def nested_lists(params, X, Y, spec):
    """Returns lists of lists and tuples, no arrays."""
    return [(dW.tolist(), tuple(db.tolist())) for dW, db in manual.gradients(params, X, Y, spec)]


CORRECT = ("per_node", "cosh_tanh", "reordered", "jax_jit", "nested_lists")


# ---------------------------------------------------------------------------------------------
# Textbook numerics: correct formulas that are accurate to a few units of roundoff of the
# activation's own scale, not of each value (the default numerical standard's business).


def _sigmoid_via_tanh(z):
    return (1 + np.tanh(z / 2)) / 2


def _tanh_via_exp(z):
    e = np.exp(-2 * np.abs(z))  # guarded: never the exp of a positive number
    return np.sign(z) * (1 - e) / (1 + e)


def _softplus_log_exp(z):
    with np.errstate(over="ignore"):
        return np.where(z > 30, z, np.log(1 + np.exp(np.minimum(z, 30))))


def _sigmoid_prime_ratio_guarded(z):
    e = np.exp(-np.abs(z))  # e^-z / (1 + e^-z)^2 is even in z
    return e / (1 + e) ** 2


def _textbook(values: dict, slopes: dict):
    """A backprop whose activation values and derivatives come from the given formulas."""

    def g(name, z):
        return values[name](z) if name in values else manual.activation(np, name, z)

    def g_prime(name, z, a):
        if name in slopes:
            return slopes[name](z, a)
        return manual.activation_derivative(np, name, z)

    def gradients(params, X, Y, spec):
        Z, A = [None], [X]
        for (W, b), name in zip(params, spec.activations, strict=True):
            Z.append(A[-1] @ W + b)
            A.append(g(name, Z[-1]))
        H = A[-1]
        if spec.loss == "logistic":  # sigmoid(H) - y, with the same sigmoid
            dA = g("sigmoid", H) - Y
        else:
            dA = manual.loss_derivative(np, spec.loss, H, Y)
        dA = dA / len(X)
        grads = []
        for m in range(spec.depth, 0, -1):
            delta = dA * g_prime(spec.activations[m - 1], Z[m], A[m])
            grads.append((A[m - 1].T @ delta, delta.sum(axis=0)))
            dA = delta @ params[m - 1][0].T
        return grads[::-1]

    return gradients


#: name -> a correct implementation with one textbook formula
TEXTBOOK = {
    "s_one_minus_s": _textbook({}, {"sigmoid": lambda z, a: a * (1 - a)}),
    "one_minus_tanh_squared": _textbook({}, {"tanh": lambda z, a: 1 - a * a}),
    "sigmoid_via_tanh": _textbook(
        {"sigmoid": _sigmoid_via_tanh, "softplus": _softplus_log_exp},
        {"sigmoid": lambda z, a: a * (1 - a), "softplus": lambda z, a: _sigmoid_via_tanh(z)},
    ),
    "tanh_via_exp": _textbook({"tanh": _tanh_via_exp}, {"tanh": lambda z, a: 1 - a * a}),
    "softplus_log_exp": _textbook(
        {"softplus": _softplus_log_exp},
        {"softplus": lambda z, a: _sigmoid_via_tanh(z)},
    ),
    "sigmoid_prime_exp_ratio": _textbook(
        {}, {"sigmoid": lambda z, a: _sigmoid_prime_ratio_guarded(z)}
    ),
}
globals().update(TEXTBOOK)
