r"""Directional checks for networks too big to difference entry by entry.

Instead of every ∂R/∂w_i, check k directional derivatives: for random directions v with
independent standard normal entries, the candidate's ∇R · v must equal the derivative of
t -> R(w + t v) at 0, taken by the same central differences as ``reference.fd`` (steps t, t/2,
t/4, two Richardson levels, the same error estimate and retries) from values of R alone. Each
direction costs six forward passes, whatever the number of parameters.

What it can miss. Let e = (candidate - true gradient), nonzero. Along v, e · v is normal with
mean 0 and standard deviation ||e||, so it hides inside a direction's tolerance τ with
probability P(|e · v| <= τ) = erf(τ / (√2 ||e||)) <= √(2/π) τ / ||e||. The k directions are
independent, so a wrong gradient passes all of them with probability at most

    (√(2/π) τ_max / ||e||)^k,

τ_max the largest tolerance among them (``Directional.miss_bound``). With the default k = 3 and
an error a thousand times the tolerance, that is below 1e-9. An error smaller than the tolerance
is below what the finite differences resolve and is not claimed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference.compare import as_float_pairs
from reference.fd import RETRIES, SHRINK, risk_of
from reference.fd_rounding import forward_error, forward_prefix, risk_magnitude
from reference.fd_stencil import OFFSETS, stencil_estimate
from reference.network import per_example_loss
from reference.spec import arrays_of, as_arrays, as_spec, check_arrays, vector_of

__all__ = ["Directional", "directional_check"]


@dataclass
class Directional:
    """The verdict of a directional check."""

    projected: np.ndarray  # ∇R · v from the candidate, one per direction
    differences: np.ndarray  # d/dt R(w + t v) at 0 by finite differences
    tolerance: np.ndarray  # allowed |projected - differences| per direction
    error: str | None = None  # what the candidate raised or returned wrongly

    @property
    def ok(self) -> bool:
        return self.error is None and bool(
            np.all(np.abs(self.projected - self.differences) <= self.tolerance)
        )

    def miss_bound(self, error_norm: float) -> float:
        """The largest probability that a gradient wrong by ``error_norm`` (2-norm) passes."""
        per_direction = min(1.0, np.sqrt(2 / np.pi) * float(self.tolerance.max()) / error_norm)
        return per_direction ** len(self.tolerance)


def _moved(params: list, direction: list, t: float) -> list:
    """The parameters w + t v."""
    return [(W + t * vW, b + t * vb) for (W, b), (vW, vb) in zip(params, direction, strict=True)]


def directional_check(
    implementation: Callable,
    params: Any,
    X: Any,
    Y: Any,
    spec: Any,
    *,
    directions: int = 3,
    seed: int = 0,
) -> Directional:
    """Check ``implementation`` along ``directions`` random directions (float64).

    The tolerance of a direction is the finite differences' error estimate plus a float64
    rounding allowance for the candidate's dot product with v: Σ_i |g_i v_i| times 2^-40, far
    above the rounding of a correct float64 backward pass on networks of this kind and far
    below any wrong formula.
    """
    from reference.verify import call_implementation

    spec = as_spec(spec)
    check_arrays(params, X, Y, spec)
    params, X, Y = as_arrays(params, X, Y, np.float64)
    rng = np.random.default_rng(seed)
    vectors = [
        [(rng.standard_normal(W.shape), rng.standard_normal(b.shape)) for W, b in params]
        for _ in range(directions)
    ]
    called = call_implementation(implementation, params, X, Y, spec, np.float64)
    candidate, error = called.pairs, called.error
    if error is not None:
        return Directional(np.zeros(0), np.zeros(0), np.zeros(0), error)
    flat = vector_of(as_float_pairs(candidate))
    stacked = np.array([vector_of(d) for d in vectors])
    projected = stacked @ flat
    magnitude = np.abs(stacked) @ np.abs(flat)
    A, Z = forward_prefix(params, X, spec.activations)
    base = float(per_example_loss(np, spec.loss, A[-1], Y).mean())
    eps = np.finfo(np.float64).eps
    floor = eps * (abs(base) + risk_magnitude(A[-1], Y, spec.loss))
    floor += forward_error(params, A, Z, Y, spec)
    largest = max(float(np.abs(a).max(initial=0)) for a in arrays_of(params))
    differences = np.zeros(directions)
    tolerance = np.zeros(directions)
    for k, direction in enumerate(vectors):
        reach = max(float(np.abs(v).max(initial=0)) for pair in direction for v in pair)
        t = eps**0.2 * max(largest, 1.0) / max(reach, 1.0)
        for _ in range(RETRIES + 1):
            risks = np.array(
                [[risk_of(_moved(params, direction, s * t), X, Y, spec) for s in OFFSETS]]
            )
            rounding = np.array([eps * np.abs(risks).max() + floor])
            estimate = stencil_estimate(risks, base, np.array([t]), rounding)
            if estimate.expanding[0]:
                break
            t /= SHRINK
        differences[k] = estimate.value[0]
        tolerance[k] = estimate.error[0] + 2.0**-40 * magnitude[k]
    return Directional(projected, differences, tolerance)
