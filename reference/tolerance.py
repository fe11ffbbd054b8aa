r"""The tolerance of a backward pass against ``jax.grad``: a bound on its rounding, per entry.

The tolerance of every entry is a floating-point error bound of the backward
pass, not a fixed relative threshold. It is a first-order running bound in the style of Higham's
*Accuracy and Stability of Numerical Algorithms* (ch. 3): a sum of k products computed in any
order is within γ_k = k u / (1 - k u) of the exact sum, relative to the sum of the products'
magnitudes. Propagating magnitudes through the same four formulas gives, per entry:

- forward:  e(z^(l)) = γ_{n_{l-1}+1} (|a^(l-1)| |W^(l)| + |b^(l)|) + e(a^(l-1)) |W^(l)|,
            e(a^(l)) = |g'(z)| e(z) + 4 u |a^(l)| + 4 u s_g (see "The numerical standard");
- output:   e(∂R/∂H) from the loss's Lipschitz constant times e(H), plus rounding of its terms;
- formula 1: e(∂R/∂a^(l)) = γ_{n_{l+1}} |δ^(l+1)| |W^(l+1)|ᵀ + e(δ^(l+1)) |W^(l+1)|ᵀ;
- formula 2: e(δ^(l)) = e(∂R/∂a) |g'| + |∂R/∂a| e(g') + u |δ|, with e(g') = max|g''| e(z) plus
            the absolute rounding of g' (4u: every g' here is at most 1, and a saturated unit's
            g' ≈ 0 is computed to within a few u absolutely, not relatively);
- formulas 3, 4: e(∂R/∂W) = γ_n |a|ᵀ|δ| + e(a)ᵀ|δ| + |a|ᵀ e(δ), e(∂R/∂b) = γ_n Σ|δ| + Σ e(δ).

Underflow: besides its relative error u, every operation may err absolutely by the smallest normal
number t (XLA flushes subnormals to zero on CPU; NumPy rounds them gradually), and a subnormal
input may be read as 0. So each sum of k terms adds k t, each elementwise operation t, and a
subnormal input x adds |x| to that input's error.

A relu or leaky_relu unit with |z| <= e(z) may fall on either side of its kink in another correct
computation; its e(g') is then the jump of g' (1 or 0.99). Both the candidate and the reference
carry such an error, so the tolerance is twice the bound. Except where z is exactly 0 in every
computation: each of its terms has a factor that is exactly 0 (an input entry, a weight, or an
earlier unit that is exactly 0: identity, relu, leaky_relu or tanh of such a z, or a relu of a z
certainly below 0) and b = 0. There g'(0) is the contract's, with no other side.
Cancellation cannot cause a false alarm, because magnitudes, not values, are propagated; and a
bound of a few u |terms| is far below what a wrong formula, a missing factor, or float32
arithmetic inside a float64 computation produces.

The numerical standard. A correct implementation may compute an activation by any textbook
formula: sigmoid as (1 + tanh(z/2)) / 2, tanh as (1 - e^{-2z}) / (1 + e^{-2z}), softplus as
log(1 + e^z) guarded against overflow. Such formulas are accurate to a few units of roundoff of
the activation's own scale s_g, not of each value: σ(-40) = 4e-18 may come out as 0 or 1e-17.
By default (``precision="standard"``) every activation value and derivative is allowed 4 u s_g
absolutely, on top of the 4 u |a| and the 4 u of g' above: s_g = 1 for sigmoid, tanh and
softplus (whose unbounded part, z for large z, is accurate relatively anyway) and 0 for the
piecewise-linear ones, exact wherever they are computed. ``precision="strict"`` drops that
term and asks every activation value to be accurate relatively (4 u |a|), for library authors
who promise that.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from reference.autodiff import AutodiffPass
from reference.spec import KINKED_ACTIVATIONS, Spec

__all__ = ["PRECISIONS", "backprop_error_bound"]

#: Largest |g''| of each activation (0 where g is piecewise linear): sigmoid'' peaks at
#: 1/(6 sqrt 3) ≈ 0.0962, tanh'' at 4/(3 sqrt 3) ≈ 0.770, softplus'' = sigmoid' at 1/4.
_SECOND_DERIVATIVE_BOUND = {
    "identity": 0.0,
    "relu": 0.0,
    "leaky_relu": 0.0,
    "sigmoid": 0.0963,
    "tanh": 0.770,
    "softplus": 0.25,
}
#: Absolute rounding error of computing g' (in units of u): exact for piecewise-linear g.
_DERIVATIVE_ROUNDING = {
    "identity": 0.0,
    "relu": 0.0,
    "leaky_relu": 0.0,
    "sigmoid": 4.0,
    "tanh": 4.0,
    "softplus": 4.0,
}
_KINK_JUMP = {"relu": 1.0, "leaky_relu": 0.99}
#: Activations with g(0) = 0 exactly, in any computation.
_ZERO_AT_ZERO = frozenset({"identity", "relu", "leaky_relu", "tanh"})
#: The scale s_g to which the standard asks activation values to be accurate (in units of u,
#: absolutely): bounded activations (and softplus's bounded part) to their own scale, 1.
_VALUE_SCALE = {
    "identity": 0.0,
    "relu": 0.0,
    "leaky_relu": 0.0,
    "sigmoid": 1.0,
    "tanh": 1.0,
    "softplus": 1.0,
}
#: The numerical standards: activation values accurate to their scale, or relatively.
PRECISIONS = ("standard", "strict")


def _gamma(k: int, u: float) -> float:
    return k * u / (1 - k * u)


def _flushed(magnitude: np.ndarray, t: float) -> np.ndarray:
    """The error of reading each value as 0 if it is subnormal (flush-to-zero)."""
    return np.where(magnitude < t, magnitude, 0.0)


def _loss_derivative_error(
    loss: str, H: np.ndarray, Y: np.ndarray, D: np.ndarray, eH: np.ndarray, u: float, t: float
) -> np.ndarray:
    """Error bound of ∂R/∂H = ℓ'(H, Y) / n, shape (n, n_L); D is its reference value.

    Every ℓ' here is at most 2-Lipschitz in y, hence the 2 |y| for a flushed subnormal y.
    """
    n = H.shape[0]
    magnitude = np.abs(D) * n + np.abs(Y) + np.abs(H)  # the terms ℓ' is formed from
    if loss == "output":
        lipschitz = np.zeros_like(eH)
    elif loss == "square":
        lipschitz = 2 * eH  # ℓ' = 2(H - y)
    elif loss == "logistic":
        lipschitz = 0.25 * eH  # ℓ' = sigmoid(H) - y
    else:  # softmax_cross_entropy: ℓ' = softmax(H) Σy - y; softmax is 1-Lipschitz in max norm
        lipschitz = 2 * np.abs(Y).sum(axis=1, keepdims=True) * eH.max(axis=1, keepdims=True)
    flushed_y = 2 * _flushed(np.abs(Y), t)
    return (lipschitz + 8 * u * magnitude + flushed_y + 4 * t) / n + u * np.abs(D) + t


def backprop_error_bound(
    ref: AutodiffPass,
    params: list,
    Y: np.ndarray,
    spec: Spec,
    dtype: Any,
    *,
    precision: str = "standard",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A bound on the rounding error of a backward pass computed in ``dtype``, per entry.

    ``ref`` supplies the magnitudes (from the ``jax.grad`` pass at the same point); the result is
    shaped like ``params``. ``precision`` picks the numerical standard (``PRECISIONS``). See the
    module docstring for the recurrences.
    """
    u = float(np.finfo(dtype).eps)
    t = float(np.finfo(dtype).tiny)
    abs_W = [None] + [np.abs(np.asarray(W, dtype=np.float64)) for W, _ in params]
    abs_b = [None] + [np.abs(np.asarray(b, dtype=np.float64)) for _, b in params]
    forward = _forward_errors(ref, abs_W, abs_b, spec, u, t, precision)
    return _backward_errors(ref, abs_W, Y, spec, forward, u, t)


class _Forward(NamedTuple):
    """The forward pass's error bounds per layer (index 0 for the input, or None)."""

    eA: list  # e(a^(l))
    abs_g: list  # |g'(z^(l))| plus its error: the largest g' another computation may use
    e_g: list  # e(g'(z^(l)))


def _forward_errors(
    ref: AutodiffPass, abs_W: list, abs_b: list, spec: Spec, u: float, t: float, precision: str
) -> _Forward:
    """e(z), e(a) and e(g') layer by layer, with the exact zeros that carry no kink."""
    scale = _VALUE_SCALE if precision == "standard" else dict.fromkeys(_VALUE_SCALE, 0.0)
    names = (None, *spec.activations)
    eA = [_flushed(np.abs(ref.A[0]), t)]
    exact_zero = ref.A[0] == 0  # a^(l) entries that are exactly 0 in every computation
    abs_g: list = [None]
    e_g: list = [None]
    for layer in range(1, spec.depth + 1):
        magnitude_A = np.abs(ref.A[layer - 1]) + eA[layer - 1]
        k = spec.widths[layer - 1] + 1
        ez = _gamma(k, u) * (magnitude_A @ abs_W[layer] + abs_b[layer]) + k * t
        ez = ez + eA[layer - 1] @ abs_W[layer]
        ez = ez + magnitude_A @ _flushed(abs_W[layer], t) + _flushed(abs_b[layer], t)
        name = names[layer]
        eg = (
            _SECOND_DERIVATIVE_BOUND[name] * ez + (_DERIVATIVE_ROUNDING[name] + 4 * scale[name]) * u
        )
        # z is exactly 0 in every computation where each of its terms has a zero factor and
        # b = 0: there g'(0) is the contract's value, with no kink to fall on either side of
        live_terms = (~exact_zero).astype(np.float64) @ (abs_W[layer] != 0).astype(np.float64)
        z_exact_zero = (live_terms == 0) & (abs_b[layer] == 0)
        uncertain = np.zeros(ez.shape, dtype=bool)
        if name in KINKED_ACTIVATIONS:
            # either side of the kink is possible
            uncertain = (np.abs(ref.Z[layer]) <= ez) & ~z_exact_zero
            eg = np.where(uncertain, _KINK_JUMP[name], eg)
        exact_zero = z_exact_zero if name in _ZERO_AT_ZERO else np.zeros_like(z_exact_zero)
        if name == "relu":  # a certainly negative z gives exactly 0
            exact_zero = exact_zero | ((ref.Z[layer] < 0) & ~uncertain)
        # the other computation's g' may be as large as ours plus its error: a saturated unit
        # whose g' rounds to 0 here may carry a small nonzero g' there
        g_abs = np.abs(ref.g_prime[layer]) + eg
        abs_g.append(g_abs)
        e_g.append(eg)
        eA.append(g_abs * ez + 4 * u * (np.abs(ref.A[layer]) + scale[name]) + t)
    return _Forward(eA, abs_g, e_g)


def _backward_errors(
    ref: AutodiffPass, abs_W: list, Y: np.ndarray, spec: Spec, forward: _Forward, u: float, t: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """e(∂R/∂a), e(δ), then e(∂R/∂W) and e(∂R/∂b) from the last layer to the first."""
    L, n = spec.depth, ref.A[0].shape[0]
    eA, abs_g, e_g = forward
    e_dA = _loss_derivative_error(spec.loss, ref.A[L], Y, ref.dA[L], eA[L], u, t)
    bounds: list = [None] * (L + 1)
    e_delta = np.zeros_like(ref.dZ[L])  # replaced at layer L before any use
    for layer in range(L, 0, -1):
        if layer < L:
            magnitude_delta = np.abs(ref.dZ[layer + 1]) + e_delta
            k = spec.widths[layer + 1]
            e_dA = _gamma(k, u) * magnitude_delta @ abs_W[layer + 1].T + k * t
            e_dA = e_dA + e_delta @ abs_W[layer + 1].T
        abs_dA = np.abs(ref.dA[layer])
        e_delta = e_dA * abs_g[layer] + abs_dA * e_g[layer] + u * np.abs(ref.dZ[layer]) + t
        magnitude_delta = np.abs(ref.dZ[layer]) + e_delta
        magnitude_A = np.abs(ref.A[layer - 1])
        eW = _gamma(n + 1, u) * magnitude_A.T @ magnitude_delta + (n + 1) * t
        eW = eW + eA[layer - 1].T @ magnitude_delta + magnitude_A.T @ e_delta
        eb = _gamma(n + 1, u) * magnitude_delta.sum(axis=0) + e_delta.sum(axis=0) + (n + 1) * t
        bounds[layer] = (eW, eb)
    return bounds[1:]
