r"""Is a wrong gradient what formulas 1-4 give from some ∂R/∂z^(ℓ)? A least-squares test.

"∂R/∂z^(ℓ) is wrong and the formulas below it are right" is a claim about every layer at and
below ℓ: the candidate's gradients there must be what formulas 1-4 give, at the network's own
forward pass, from *some* ∂R/∂z^(ℓ). That is a linear condition in ∂R/∂z^(ℓ), tested here by
least squares wherever the case is small enough.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.spec import arrays_of

__all__ = ["EXPLAINS", "LSTSQ_UP_TO", "close", "consistent_below", "highest_wrong", "right_below"]

#: Relative agreement that makes a named mistake the explanation of a candidate's values.
EXPLAINS = 1e-6


def close(candidate: np.ndarray, other: np.ndarray) -> bool:
    scale = max(float(np.abs(other).max(initial=0.0)), float(np.abs(candidate).max(initial=0.0)))
    return bool(np.all(np.abs(candidate - other) <= EXPLAINS * scale)) and scale > 0


#: The most unknowns x equations a least-squares consistency test takes on.
LSTSQ_UP_TO = 4_000_000


def consistent_below(layer: int, result: Any, lowest: int = 1) -> bool | None:
    """Are the candidate's gradients of layers ``lowest`` ... ``layer`` what formulas 1-4 give,
    at this forward pass, from some ∂R/∂z^(layer)? None where the test cannot fail (no more
    equations than unknowns) or is too large to run."""
    ref, params, candidate = result.reference, result.params, result.candidate
    n, units = ref.A[0].shape[0], ref.A[layer].shape[1]
    m = n * units
    equations = sum((W.shape[0] + 1) * W.shape[1] for W, _ in params[lowest - 1 : layer])
    if m >= equations or m * equations > LSTSQ_UP_TO:
        return None
    delta = np.eye(m).reshape(m, n, units)  # every basis vector of ∂R/∂z^(layer), (m, n, n_l)
    columns = []
    for current in range(layer, lowest - 1, -1):
        dW = np.einsum("ni,mnj->mij", ref.A[current - 1], delta)  # formula 3
        columns.append(np.concatenate([dW.reshape(m, -1), delta.sum(axis=1)], axis=1))  # 4
        if current > lowest:  # formulas 1-2
            delta = (delta @ params[current - 1][0].T) * ref.g_prime[current - 1]
    basis = np.concatenate(columns[::-1], axis=1)  # (m, equations), layers lowest ... layer
    kept = slice(lowest - 1, layer)
    target = np.concatenate([np.append(np.ravel(dW), db) for dW, db in candidate[kept]])
    true = np.concatenate([np.append(np.ravel(dW), db) for dW, db in ref.grads[kept]])
    if not np.all(np.isfinite(basis)) or not np.all(np.isfinite(target)):
        return None
    coefficients, *_ = np.linalg.lstsq(basis.T, target, rcond=None)
    residual = float(np.linalg.norm(basis.T @ coefficients - target))
    return residual <= EXPLAINS * max(float(np.linalg.norm(target)), float(np.linalg.norm(true)))


def right_below(top: int, result: Any) -> bool:
    """Are the candidate's gradients of every layer below ``top`` right against ``jax.grad``,
    with some of them nonzero (so that they show what ∂R/∂z^(top) reached them)?"""
    if top <= 1 or result.vs_autodiff is None:
        return False
    below = [p for p in result.vs_autodiff.params if p.layer < top]
    grads = arrays_of(result.reference.grads[: top - 1])
    return all(p.ok for p in below) and any(np.any(g) for g in grads)


def highest_wrong(result: Any) -> int | None:
    """The highest layer a finite, wrong candidate gets wrong against either witness."""
    if result.candidate is None or result.kind != "wrong_values":
        return None
    layers = [
        p.layer
        for comparison in (result.vs_autodiff, result.vs_fd)
        if comparison is not None
        for p in comparison.mismatches
    ]
    return max(layers, default=None)
