"""The rounding floor of the finite differences: how far R as the forward pass computes it can
be from R itself, from function values alone (no derivative formula). ``unperturbed_point``
gathers what the floor needs from the unperturbed network; ``rounding_floor`` bounds the
error of the R values of each entry's stencil.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from reference.network import numpy_activation, per_example_loss

__all__ = [
    "Point",
    "forward_error",
    "forward_prefix",
    "risk_magnitude",
    "rounding_floor",
    "unperturbed_point",
]


def forward_prefix(params: list, X: np.ndarray, activations: tuple[str, ...]) -> tuple[list, list]:
    """a^(l) and z^(l) of the unperturbed network: A[0] = X, Z[0] = None."""
    A, Z = [X], [None]
    for (W, b), name in zip(params, activations, strict=True):
        Z.append(A[-1] @ W + b)
        A.append(numpy_activation(name)(Z[-1]))
    return A, Z


def risk_magnitude(H: np.ndarray, Y: np.ndarray, loss: str) -> float:
    """A scale for R's rounding error: the mean over examples of the summed |terms|."""
    if loss == "output":
        return float(np.abs(H).sum(axis=-1).mean())
    terms = np.abs(per_example_loss(np, loss, H, Y)) + np.abs(H * Y).sum(axis=-1)  # (n,)
    if loss == "softmax_cross_entropy":
        # log Σ_j exp(H_j - max H) errs by the sum's relative error: about n_L u, plus u per unit
        # of each exponent's size, the spread of H; times Σ |y|, however small ℓ itself is
        spread = H.max(axis=-1) - H.min(axis=-1)
        terms = terms + np.abs(Y).sum(axis=-1) * (H.shape[-1] + spread + np.abs(H).max(axis=-1))
    return float(terms.mean())


def _secant_slope(f: Any, v: np.ndarray, t: np.ndarray) -> np.ndarray:
    """max(|f(v + t) - f(v)|, |f(v) - f(v - t)|) / t, elementwise: how fast f moves near v, from
    values of f alone."""
    centre = f(v)
    return np.maximum(np.abs(f(v + t) - centre), np.abs(centre - f(v - t))) / t


def forward_error(params: list, A: list, Z: list, Y: np.ndarray, spec: Any) -> float:
    """A first-order bound on the rounding error of R as the forward pass computes it.

    Carried layer by layer as an absolute bound e per entry (X is exact):

    - z = a W + b, a dot product of length k = n_{l-1} plus b, errs by at most
      e_a |W| + γ_{k+1} (|a| |W| + |b|) (γ_m = m u / (1 - m u)), plus an underflow term;
    - a = g(z) errs by at most s e_z + 4 u |a|, s the slope of g near z;
    - R = mean_i ℓ(h_i, y_i) errs by at most mean_i Σ_j s_ij e_ij (the loss's own rounding is
      the u F term of the floor).

    The slopes are secants of g and ℓ over a step at least e wide and at least √u the argument's
    size: function values, no derivative formula, as everywhere in this witness.
    """
    dtype = A[0].dtype
    eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).tiny
    root = np.sqrt(eps)
    error = np.zeros_like(A[0])
    for (W, b), name, a_prev, z, a in zip(
        params, spec.activations, A[:-1], Z[1:], A[1:], strict=True
    ):
        terms = W.shape[0] + 1
        gamma = terms * eps / (1 - terms * eps)
        error_z = error @ np.abs(W) + gamma * (np.abs(a_prev) @ np.abs(W) + np.abs(b))
        error_z = error_z + terms * tiny
        step = np.maximum(error_z, root * np.maximum(np.abs(z), 1.0))
        slope = _secant_slope(numpy_activation(name), z, step)
        error = slope * error_z + 4 * eps * np.abs(a) + tiny
    H = A[-1]
    n, outputs = H.shape
    step = np.maximum(error, root * np.maximum(np.abs(H), 1.0))  # (n, n_L)
    unit = np.eye(outputs, dtype=dtype)[:, None, :]  # (n_L, 1, n_L): one output moved at a time
    base = per_example_loss(np, spec.loss, H, Y)  # (n,)
    moved = [
        np.abs(per_example_loss(np, spec.loss, H[None] + sign * step[None] * unit, Y) - base)
        for sign in (1.0, -1.0)
    ]  # each (n_L, n): example i's loss with its output j moved by ± its step
    slope = np.maximum(*moved).T / step  # (n, n_L)
    return float((slope * error).sum() / n)


class Point(NamedTuple):
    """The unperturbed network and what the rounding floor needs from it."""

    A: list  # a^(l), A[0] = X
    Z: list  # z^(l), Z[0] = None
    risk: float  # R(w)
    magnitude: float  # |R| plus the magnitude of R's terms
    propagated: float  # forward_error's bound on the forward pass's own rounding
    eps: float  # unit roundoff of the dtype R is evaluated in


def unperturbed_point(params: list, X: np.ndarray, Y: np.ndarray, spec: Any) -> Point:
    A, Z = forward_prefix(params, X, spec.activations)
    risk = float(per_example_loss(np, spec.loss, A[-1], Y).mean())
    magnitude = abs(risk) + risk_magnitude(A[-1], Y, spec.loss)
    propagated = forward_error(params, A, Z, Y, spec)
    return Point(A, Z, risk, magnitude, propagated, float(np.finfo(X.dtype).eps))


def rounding_floor(risks: np.ndarray, point: Point) -> np.ndarray:
    """A bound on the rounding error of each entry's values of R, (entries, 6) -> (entries,):
    u F (F the values' and terms' magnitude) plus the forward pass's propagated rounding."""
    return point.eps * (np.abs(risks).max(axis=1) + point.magnitude) + point.propagated
