r"""The finite-difference witness: every entry of ∇_w R from values of R alone.

It never sees a derivative formula. Its one use of structure is where a parameter acts:
perturbing W_ij^(l) or b_j^(l) leaves layers 1 ... l-1 untouched and moves z_j^(l) alone, so only
that unit of layer l is recomputed, layer l+1 by a rank-one update, and layers l+2 ... L afresh,
for a whole chunk of perturbed parameter vectors at once (``fd_batched``: NumPy, batched, no
compilation). Where that is a lot of work, the same stencil, from the moved unit's column to R,
runs as one compiled XLA function instead (``fd_compiled``: ``jax.nn``'s activations, fused with
the next layer's sum, both cores, calls padded to one shape): the same values of R, up to
rounding the forward-error model covers (``fd_rounding``). There, a tanh or sigmoid layer l+1
whose pre-activations move by at most 0.1 is evaluated by the addition theorem, tanh(z + m) =
(tanh z + tanh m) / (1 + tanh z tanh m), from the unperturbed tanh z and a rational tanh m: an
identity of the function, not a derivative, and several times cheaper than tanh itself.

For each entry w with step h (``fd_stencil.step_for``) it evaluates R at w ± h, w ± h/2 and w ± h/4:

- D(s) = (R(w+s) - R(w-s)) / 2s = R' + c s^2 + d s^4 + ... plus rounding;
- Richardson's extrapolation removes the s^2 term twice, R1 = (4 D(h/2) - D(h)) / 3 and
  R2 = (4 D(h/4) - D(h/2)) / 3; R2 is the value returned;
- the error estimate is |R1 - R2| (15 times what R2 leaves of the d s^4 term, and it also catches
  rounding noise) plus a rounding floor 6 ε / h, ε = u F + E a bound on the rounding error of each
  R value: u the dtype's epsilon, F the magnitude of R's terms and E the forward pass's own
  propagated rounding (see ``forward_error``: a sum like 40 a - 39 that cancels leaves R with an
  error far above u |R|).
- Both rest on D behaving like its expansion at these steps. Where it does not (the differences
  D(h) - D(h/2) and D(h/2) - D(h/4) are not in the ratio 4 : 1 within 25% beyond noise, or those
  of the even part (R(w+s) + R(w-s) - 2 R(w)) / s^2 are not, say a saturating sigmoid behind
  large weights) the entry is recomputed with h / 16, up to three times; an entry still not in
  that regime is left unjudged (``unresolved``).

Kinks: the forward pass reports its relu and leaky_relu pre-activations (structure, not a
derivative). Where any of them changes sign across the stencil, the entry is a kink: the central
difference straddles a corner and means nothing, and the entry is retried with a smaller step
like the others. Where exactly one pre-activation still crosses, the entry is judged by the
one-sided differences (R(w) - R(w-s))/s and (R(w+s) - R(w))/s, s in {h/2, h/4}: R is smooth on
each side of the one corner, the analytic derivative is the slope of the side that holds w (or,
at the corner itself, the side the g'(0) convention picks), so it lies between them, within their
own error estimate. Where two or more cross, R may have a stretch narrower than the step between
corners whose slope neither side shows (or, with corners exactly at w, a g'(0) = 0 derivative that
is no one-sided slope at all): no value of R the stencil sees can judge such an entry, and the
witness abstains (``unresolved``; its interval is everything).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from reference.fd_batched import CHUNK, layer_entries
from reference.fd_rounding import forward_prefix, rounding_floor, unperturbed_point
from reference.fd_stencil import OFFSETS, stencil_estimate, step_for
from reference.network import per_example_loss
from reference.spec import as_arrays, as_spec, check_arrays

__all__ = [
    "FULL_SHAPE",
    "FULL_UP_TO",
    "RETRIES",
    "SHRINK",
    "FiniteDifferences",
    "differenced_in_full",
    "differencing_work",
    "fd_gradients",
    "finite_differences",
    "risk_of",
    "sampled_entries",
]

#: How often an entry outside the asymptotic regime, or at a kink, is retried, and by how much
#: its step shrinks each time.
RETRIES, SHRINK = 3, 16.0


class FiniteDifferences(NamedTuple):
    """Per-entry results, each a list of L pairs shaped like ``params``."""

    gradients: list  # Richardson-extrapolated central differences
    error: list  # error estimate of each entry (absolute)
    kink: list  # bool: a relu/leaky_relu pre-activation changes sign across the stencil
    unresolved: list  # bool: two or more do, or no step gave a usable expansion; no verdict
    lower: list  # at kinks: the smallest one-sided difference minus its error; else value - error
    upper: list  # at kinks: the largest one-sided difference plus its error; else value + error
    step: list  # the step h finally used for each entry
    sampled: list  # bool: the entry was differenced (see ``sampled_entries``); else NaN, no verdict


#: (depth, width, batch) up to which ``sampled_entries`` asks for every entry: the harness's
#: small corner (at most about 1.3 million multiply-adds of differencing), where three cases in
#: four are drawn.
FULL_SHAPE = (4, 8, 8)
#: Work of differencing every entry (stencil points x examples x multiply-adds of the layers a
#: point recomputes) up to which a network outside ``FULL_SHAPE`` is differenced in full too.
FULL_UP_TO = 250_000
#: Beyond it, one entry at random of a W and one of a b (each of a random layer), and up to
#: ``WORST`` entries of each W^(l) and b^(l) where a candidate is furthest outside its tolerance
#: against ``jax.grad``.
SAMPLED, WORST = ("W", "b"), 4


def differencing_work(spec: Any, n: int) -> int:
    """Roughly the multiply-adds of differencing every entry of ``spec`` at batch ``n``: each
    stencil point of an entry of layer l recomputes layer l, the layers after it and the loss."""
    widths, total = spec.widths, 0
    for layer in range(1, spec.depth + 1):
        after = sum(widths[k - 1] * widths[k] for k in range(layer + 1, spec.depth + 1))
        point = n * (widths[layer] + after + widths[-1])
        total += (widths[layer - 1] + 1) * widths[layer] * len(OFFSETS) * point
    return total


def differenced_in_full(spec: Any, n: int) -> bool:
    """Does ``sampled_entries`` ask for every entry of ``spec`` at batch ``n``?"""
    depth, width, batch = FULL_SHAPE
    corner = spec.depth <= depth and max(spec.widths) <= width and n <= batch
    return corner or differencing_work(spec, n) <= FULL_UP_TO


def sampled_entries(spec: Any, X: np.ndarray, comparison: Any = None) -> list | None:
    """Which entries ``finite_differences`` should difference: None (every one) for networks
    within ``FULL_SHAPE`` or ``FULL_UP_TO`` (``differenced_in_full``); beyond them, per layer
    the flat indices into [W^(l); b^(l)] of a random entry of some W and of some b (the same
    ones for the same spec) and, given a comparison of a candidate with ``jax.grad``, up to
    ``WORST`` entries of each W and b where it is furthest outside its tolerance.

    The ``jax.grad`` comparison judges every entry whatever this picks: the finite differences
    confirm it where the candidate is suspect and at random places, at a cost that does not
    grow with the parameter count. (The suite checks ``jax.grad`` against every entry's finite
    differences on such networks too.)
    """
    if differenced_in_full(spec, X.shape[0]):
        return None
    rng = np.random.default_rng(0)
    picked: list[list[np.ndarray]] = [[] for _ in spec.shapes()]
    for param in SAMPLED:
        layer = int(rng.integers(spec.depth))
        (rows, units), _ = spec.shapes()[layer]
        weights = rows * units
        picked[layer].append(
            np.array([rng.integers(weights) if param == "W" else weights + rng.integers(units)])
        )
    if comparison is not None:
        for p in comparison.params:
            if p.ok:
                continue
            ratios = p.ratios()
            ratios = np.where(np.isnan(ratios), np.inf, ratios).reshape(-1)
            worst = np.argsort(-ratios)[:WORST]
            offset = spec.widths[p.layer - 1] * spec.widths[p.layer] if p.param == "b" else 0
            picked[p.layer - 1].append(offset + worst[ratios[worst] > 1])
    return [np.unique(np.concatenate(chosen)) if chosen else np.zeros(0, int) for chosen in picked]


def risk_of(params: list, X: np.ndarray, Y: np.ndarray, spec: Any) -> float:
    """R by one full forward pass in NumPy, nothing reused."""
    A, _ = forward_prefix(params, X, spec.activations)
    return float(per_example_loss(np, spec.loss, A[-1], Y).mean())


def finite_differences(
    params: Any,
    X: Any,
    Y: Any,
    spec: Any,
    *,
    dtype: Any = np.float64,
    step: float | None = None,
    chunk: int = CHUNK,
    entries: list | None = None,
    checked: bool = False,
) -> FiniteDifferences:
    """Every entry of ∇_w R by central differences with Richardson extrapolation.

    Args:
        params, X, Y, spec: as in the contract; any float dtype.
        dtype: the dtype R is evaluated in; float64 by default whatever the inputs' dtype, so
            that the witness for a float32 implementation is a float64-accurate derivative of the
            same function at the same (float32-representable) point.
        step: a fixed first step h for every entry; by default ``step_for`` chooses one per
            entry. Entries outside the asymptotic regime or at kinks are retried with h / 16.
        chunk: the most perturbed copies evaluated at once (memory bound).
        entries: per layer, the flat indices into the stacked [W^(l); b^(l)] of the entries
            to difference (see ``sampled_entries``); None, every entry. The others come out
            NaN, unjudged, with ``sampled`` False.
        checked: the caller has validated the inputs already (``spec`` a ``Spec``, the arrays
            NumPy arrays of the right shapes), as ``verify`` has.

    Returns:
        ``FiniteDifferences``: values, error estimates, kink flags and intervals per entry.
    """
    if not checked:
        spec = as_spec(spec)
        check_arrays(params, X, Y, spec)
    params, X, Y = as_arrays(params, X, Y, dtype)
    point = unperturbed_point(params, X, Y, spec)
    A, Z, base = point.A, point.Z, point.risk
    fields: dict[str, list] = {key: [] for key in FiniteDifferences._fields}
    for layer in range(1, spec.depth + 1):
        W, b = params[layer - 1]
        stacked = np.vstack([W, b[None]])  # [W; b]: b_j is a weight whose input is always 1
        pending = np.arange(stacked.size) if entries is None else np.unique(entries[layer - 1])
        result = {
            key: np.zeros(
                stacked.size, dtype=bool if key in ("kink", "unresolved", "sampled") else dtype
            )
            for key in FiniteDifferences._fields
        }
        result["sampled"][pending] = True
        if not pending.size:
            _store(fields, result, stacked.shape)
            continue
        if step is None:
            reach = np.append(np.abs(A[layer - 1]).max(axis=0), 1.0)[:, None]
            h = step_for(stacked, dtype, reach).reshape(-1)
        else:
            h = np.full(stacked.size, step, dtype=dtype)
        for _ in range(RETRIES + 1):  # the last attempt's results stand, settled or not
            risks, crossings = layer_entries(
                layer, params, A, Y, spec, Z, pending, h[pending], chunk
            )
            rounding = rounding_floor(risks, point)
            estimate = stencil_estimate(risks, base, h[pending], rounding)
            kink = crossings >= 1
            settled = ~kink & estimate.expanding
            for key in ("value", "error", "lower", "upper"):
                result["gradients" if key == "value" else key][pending] = getattr(estimate, key)
            result["step"][pending] = h[pending]
            result["kink"][pending] = kink
            result["unresolved"][pending] = (crossings >= 2) | (~kink & ~estimate.expanding)
            pending = pending[~settled]
            if not pending.size:
                break
            h[pending] /= SHRINK
        unresolved, kink = result["unresolved"], result["kink"]
        # away from kinks the interval is the value ± its error; at one kink, the one-sided one
        plain = ~kink
        result["lower"][plain] = (result["gradients"] - result["error"])[plain]
        result["upper"][plain] = (result["gradients"] + result["error"])[plain]
        result["lower"][unresolved], result["upper"][unresolved] = -np.inf, np.inf
        _store(fields, result, stacked.shape)
    return FiniteDifferences(**fields)


def _store(fields: dict[str, list], result: dict[str, np.ndarray], shape: tuple) -> None:
    """One layer's per-entry results, unsampled entries NaN and unbounded, as (W, b) pairs."""
    skipped = ~result["sampled"]
    result["gradients"][skipped], result["error"][skipped] = np.nan, np.inf
    result["lower"][skipped], result["upper"][skipped] = -np.inf, np.inf
    for key in FiniteDifferences._fields:
        both = result[key].reshape(shape)
        fields[key].append((both[:-1].copy(), both[-1].copy()))


def fd_gradients(params: Any, X: Any, Y: Any, spec: Any, **options: Any) -> list:
    """∇_w R by finite differences; the contract's signature (options as ``finite_differences``).

    Returns ``[(∂R/∂W^(l), ∂R/∂b^(l)), ...]`` as NumPy arrays.
    """
    return finite_differences(params, X, Y, spec, **options).gradients
