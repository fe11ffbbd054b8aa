r"""The finite-difference witness: every entry of ∇_w R from values of R alone.

It never sees a derivative formula. Its one use of structure is that perturbing a weight of
layer l leaves layers 1 ... l-1 untouched, so their activations are computed once; layers l ... L
are evaluated afresh, for a whole chunk of perturbed parameter vectors at once (NumPy, batched,
no compilation).

For each entry w with step h (see ``step_for``) it evaluates R at w ± h and w ± h/2:

- D(h) = (R(w+h) - R(w-h)) / 2h has error c h^2 + O(h^4) plus rounding;
- Richardson's extrapolation (4 D(h/2) - D(h)) / 3 removes the h^2 term; it is the value returned;
- the error estimate is |D(h) - D(h/2)| (a safe over-estimate of what the extrapolation leaves,
  and it also catches rounding noise, which makes D(h) and D(h/2) differ) plus a rounding floor
  4 u F / h, where F is the magnitude of R's terms and u the dtype's epsilon.

Kinks: the forward pass reports its relu and leaky_relu pre-activations (structure, not a
derivative). Where any of them changes sign across the stencil, the entry is a kink: the central
difference straddles a corner and means nothing. Where exactly one pre-activation crosses, the
entry is judged by the one-sided differences (R(w) - R(w-s))/s and (R(w+s) - R(w))/s, s in
{h, h/2}: R is smooth on each side of the one corner, the analytic derivative is the slope of the
side that holds w (or, at the corner itself, the side the g'(0) convention picks), so it lies
between them, within their own error estimate. Where two or more cross, R may have a stretch
narrower than the step between corners whose slope neither side shows (or, with corners exactly
at w, a g'(0) = 0 derivative that is no one-sided slope at all): no value of R the stencil sees
can judge such an entry, and the witness abstains (``unresolved``; its interval is everything).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from reference.autodiff import as_arrays
from reference.network import numpy_activation, per_example_loss
from reference.spec import KINKED_ACTIVATIONS, as_spec, check_arrays

__all__ = ["FiniteDifferences", "fd_gradients", "finite_differences", "step_for"]

#: The most perturbed copies of a layer evaluated at once; bounds memory to about
#: CHUNK x n x max(n_l) floats per layer.
CHUNK = 4096

# Stencil offsets, in units of h: the central pairs for D(h) and D(h/2).
_OFFSETS = np.array([1.0, -1.0, 0.5, -0.5])


class FiniteDifferences(NamedTuple):
    """Per-entry results, each a list of L pairs shaped like ``params``."""

    gradients: list  # Richardson-extrapolated central differences
    error: list  # error estimate of each entry (absolute)
    kink: list  # bool: a relu/leaky_relu pre-activation changes sign across the stencil
    unresolved: list  # bool: two or more do; the witness abstains (interval is everything)
    lower: list  # at kinks: the smallest one-sided difference minus its error; else value - error
    upper: list  # at kinks: the largest one-sided difference plus its error; else value + error
    step: list  # the step h used for each entry


def step_for(values: np.ndarray, dtype: Any) -> np.ndarray:
    """The step h for central differences at each entry, a power of two.

    Truncation error of D(h) grows like h^2 |R'''| and rounding error like u |R| / h; they balance
    at h ~ u^(1/3) times the entry's scale, taken as max(|w|, 1) so that the step is never below
    the spacing of floats around w. Rounding h to a power of two makes w ± h and w ± h/2 exact
    whenever w is a multiple of h/2 (every small integer or dyadic weight), and division by h
    exact, so piecewise-linear cases come out exactly.
    """
    eps = np.finfo(dtype).eps
    raw = np.cbrt(eps) * np.maximum(np.abs(values), 1.0)
    return np.exp2(np.round(np.log2(raw))).astype(dtype)


def _prefix(params: list, X: np.ndarray, activations: tuple[str, ...]) -> tuple[list, list]:
    """a^(l) and z^(l) of the unperturbed network: A[0] = X, Z[0] = None."""
    A, Z = [X], [None]
    for (W, b), name in zip(params, activations, strict=True):
        Z.append(A[-1] @ W + b)
        A.append(numpy_activation(name)(Z[-1]))
    return A, Z


def _finish(
    z: np.ndarray,
    layer: int,
    params: list,
    Y: np.ndarray,
    spec: Any,
    base_Z: list,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward from perturbed z^(layer), (E*4, n, n_l), for E entries' 4-point stencils.

    Returns R at every stencil point, (E*4,), and per entry the number of distinct relu or
    leaky_relu pre-activations (example, unit) whose sign differs from the unperturbed one at
    some stencil point, (E,).
    """
    points = len(_OFFSETS)
    crossings = np.zeros(z.shape[0] // points, dtype=np.int64)
    for current in range(layer, spec.depth + 1):
        if current > layer:
            W, b = params[current - 1]
            z = z @ W + b  # (E*4, n, n_l) = (E*4, n, n_{l-1}) @ (n_{l-1}, n_l) + (n_l,)
        name = spec.activations[current - 1]
        if name in KINKED_ACTIVATIONS:
            flipped = np.sign(z) != np.sign(base_Z[current])  # (E*4, n, n_l)
            crossings += flipped.reshape(-1, points, flipped[0].size).any(axis=1).sum(axis=1)
        z = numpy_activation(name)(z)
    risk = per_example_loss(np, spec.loss, z, Y).mean(axis=-1)  # (E*4,)
    return risk, crossings


def _risk_magnitude(H: np.ndarray, Y: np.ndarray, loss: str) -> float:
    """A scale for R's rounding error: the mean over examples of the summed |terms|."""
    if loss == "output":
        return float(np.abs(H).sum(axis=-1).mean())
    terms = np.abs(per_example_loss(np, loss, H, Y)) + np.abs(H * Y).sum(axis=-1)  # (n,)
    return float(terms.mean())


def _layer_entries(
    which: str,
    layer: int,
    params: list,
    A: list,
    Y: np.ndarray,
    spec: Any,
    base_Z: list,
    steps: np.ndarray,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """R at the 4-point stencil of every entry of W^(layer) or b^(layer), (entries, 4), and the
    number of kinks each entry's stencil crosses, (entries,)."""
    W, b = params[layer - 1]
    A_prev = A[layer - 1]  # (n, n_{l-1}): layers before `layer` are not recomputed
    target = W if which == "W" else b
    size = target.size
    risks = np.empty((size, len(_OFFSETS)), dtype=A_prev.dtype)
    crossings = np.zeros(size, dtype=np.int64)
    per_chunk = max(1, chunk // len(_OFFSETS))
    for start in range(0, size, per_chunk):
        entries = np.arange(start, min(size, start + per_chunk))
        offsets = (steps.reshape(-1)[entries, None] * _OFFSETS).reshape(-1)  # (E*4,)
        repeat = np.repeat(entries, len(_OFFSETS))
        if which == "W":
            Wp = np.broadcast_to(W, (offsets.size, *W.shape)).copy()  # (E*4, n_{l-1}, n_l)
            rows, cols = np.unravel_index(repeat, W.shape)
            Wp[np.arange(offsets.size), rows, cols] += offsets
            z = A_prev @ Wp + b  # (E*4, n, n_l)
        else:
            bp = np.broadcast_to(b, (offsets.size, *b.shape)).copy()  # (E*4, n_l)
            bp[np.arange(offsets.size), repeat] += offsets
            z = (A_prev @ W)[None] + bp[:, None, :]  # (E*4, n, n_l)
        risk, crossed = _finish(z, layer, params, Y, spec, base_Z)
        risks[entries] = risk.reshape(-1, len(_OFFSETS))
        crossings[entries] = crossed
    return risks, crossings


def finite_differences(
    params: Any,
    X: Any,
    Y: Any,
    spec: Any,
    *,
    dtype: Any = np.float64,
    step: float | None = None,
    chunk: int = CHUNK,
) -> FiniteDifferences:
    """Every entry of ∇_w R by central differences with Richardson extrapolation.

    Args:
        params, X, Y, spec: as in the contract; any float dtype.
        dtype: the dtype R is evaluated in; float64 by default whatever the inputs' dtype, so
            that the witness for a float32 implementation is a float64-accurate derivative of the
            same function at the same (float32-representable) point.
        step: a fixed step h for every entry; by default ``step_for`` chooses one per entry.
        chunk: the most perturbed copies evaluated at once (memory bound).

    Returns:
        ``FiniteDifferences``: values, error estimates, kink flags and intervals per entry.
    """
    spec = as_spec(spec)
    check_arrays(params, X, Y, spec)
    params, X, Y = as_arrays(params, X, Y, dtype)
    eps = np.finfo(dtype).eps
    A, Z = _prefix(params, X, spec.activations)
    base = float(per_example_loss(np, spec.loss, A[-1], Y).mean())
    magnitude = abs(base) + _risk_magnitude(A[-1], Y, spec.loss)
    fields: dict[str, list] = {key: [] for key in FiniteDifferences._fields}
    for layer in range(1, spec.depth + 1):
        per_param = {key: [] for key in FiniteDifferences._fields}
        for which, target in zip("Wb", params[layer - 1], strict=True):
            if step is None:
                h = step_for(target, dtype)
            else:
                h = np.full(target.shape, step, dtype=dtype)
            risks, crossings = _layer_entries(which, layer, params, A, Y, spec, Z, h, chunk)
            kink, unresolved = crossings >= 1, crossings >= 2
            h_flat = h.reshape(-1)
            plus, minus, plus_half, minus_half = risks.T
            d_full = (plus - minus) / (2 * h_flat)
            d_half = (plus_half - minus_half) / h_flat
            value = (4 * d_half - d_full) / 3
            # rounding of R near the stencil, where |R| may be far larger than at w itself
            floor = 4 * eps * (np.abs(risks).max(axis=1) + magnitude) / h_flat
            error = np.abs(d_full - d_half) + floor
            one_sided = np.stack(
                [
                    (base - minus) / h_flat,
                    (base - minus_half) / (h_flat / 2),
                    (plus - base) / h_flat,
                    (plus_half - base) / (h_flat / 2),
                ]
            )  # (4, entries): left h, left h/2, right h, right h/2
            spread = np.abs(one_sided[0] - one_sided[1]) + np.abs(one_sided[2] - one_sided[3])
            side_error = spread + 4 * floor
            lower = np.where(kink, one_sided.min(axis=0) - side_error, value - error)
            upper = np.where(kink, one_sided.max(axis=0) + side_error, value + error)
            lower[unresolved], upper[unresolved] = -np.inf, np.inf
            for key, array in (
                ("gradients", value),
                ("error", error),
                ("kink", kink),
                ("unresolved", unresolved),
                ("lower", lower),
                ("upper", upper),
                ("step", h_flat),
            ):
                per_param[key].append(array.reshape(target.shape))
        for key, pair in per_param.items():
            fields[key].append(tuple(pair))
    return FiniteDifferences(**fields)


def fd_gradients(params: Any, X: Any, Y: Any, spec: Any, **options: Any) -> list:
    """∇_w R by finite differences; the contract's signature (options as ``finite_differences``).

    Returns ``[(∂R/∂W^(l), ∂R/∂b^(l)), ...]`` as NumPy arrays.
    """
    return finite_differences(params, X, Y, spec, **options).gradients
