r"""The finite-difference witness: every entry of ∇_w R from values of R alone.

It never sees a derivative formula. Its one use of structure is where a parameter acts:
perturbing W_ij^(l) or b_j^(l) leaves layers 1 ... l-1 untouched and moves z_j^(l) alone, so only
that unit of layer l is recomputed, layer l+1 by a rank-one update, and layers l+2 ... L afresh,
for a whole chunk of perturbed parameter vectors at once (NumPy, batched, no compilation). Where
that is a lot of work (``COMPILE_ABOVE``), the same stencil, from the moved unit's column to R,
runs as one compiled XLA function instead (``jax.nn``'s activations, fused with the next
layer's sum, both cores, calls padded to one shape): the same values of R, up to rounding the
forward-error model covers. There, a tanh or sigmoid layer l+1 whose pre-activations move by at
most 0.1 is evaluated by the addition theorem, tanh(z + m) = (tanh z + tanh m) / (1 + tanh z
tanh m), from the unperturbed tanh z and a rational tanh m: an identity of the function, not
a derivative, and several times cheaper than tanh itself.

For each entry w with step h (see ``step_for``) it evaluates R at w ± h, w ± h/2 and w ± h/4:

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

from reference.fd_compiled import OFFSETS, Columns, layer_entries_compiled
from reference.network import numpy_activation, per_example_loss
from reference.spec import KINKED_ACTIVATIONS, as_arrays, as_spec, check_arrays

__all__ = [
    "OFFSETS",
    "Estimate",
    "FiniteDifferences",
    "Point",
    "fd_gradients",
    "finite_differences",
    "forward_error",
    "forward_prefix",
    "risk_magnitude",
    "risk_of",
    "rounding_floor",
    "sampled_entries",
    "stencil_estimate",
    "step_for",
    "unperturbed_point",
]

#: The most perturbed copies of a layer evaluated at once; bounds memory to about
#: CHUNK x n x max(n_l) floats per layer.
CHUNK = 4096

#: Perturbed copies x examples x units of the first layer a stencil recomputes in full, above
#: which that layer and the rest of the pass run compiled (XLA: one fused loop over both cores,
#: activations included) instead of in NumPy. Below it, the compilation (a fraction of a
#: second per network and layer) would cost more than it saves.
COMPILE_ABOVE = 2_000_000
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


def step_for(values: np.ndarray, dtype: Any, reach: np.ndarray | float = 1.0) -> np.ndarray:
    """The first step h for the differences at each entry, a power of two.

    After two Richardson steps the truncation error falls like h^4 |R^(5)| while rounding grows
    like u |R| / h; they balance at h ~ u^(1/5) times the entry's scale. That scale is
    max(|w|, 1) (never below the spacing of floats around w) divided by the entry's ``reach``,
    the largest input it multiplies (max_i |a_i^(l-1)| for W^(l)_jk, 1 for a bias): a step in a
    weight that multiplies 10^4 moves its pre-activation 10^4 times as far, and R varies on the
    scale of the pre-activation. Rounding h to a power of two makes w ± h, w ± h/2, w ± h/4 exact
    whenever w is a multiple of h/4 (every small integer or dyadic weight), and division by h
    exact, so piecewise-linear cases come out exactly. Where R still varies on a finer scale,
    the expansion check shrinks the step (see the module).
    """
    eps = np.finfo(dtype).eps
    raw = eps**0.2 * np.maximum(np.abs(values), 1.0) / np.maximum(reach, 1.0)
    return np.exp2(np.round(np.log2(raw))).astype(dtype)


def forward_prefix(params: list, X: np.ndarray, activations: tuple[str, ...]) -> tuple[list, list]:
    """a^(l) and z^(l) of the unperturbed network: A[0] = X, Z[0] = None."""
    A, Z = [X], [None]
    for (W, b), name in zip(params, activations, strict=True):
        Z.append(A[-1] @ W + b)
        A.append(numpy_activation(name)(Z[-1]))
    return A, Z


def risk_of(params: list, X: np.ndarray, Y: np.ndarray, spec: Any) -> float:
    """R by one full forward pass in NumPy, nothing reused."""
    A, _ = forward_prefix(params, X, spec.activations)
    return float(per_example_loss(np, spec.loss, A[-1], Y).mean())


def _finish(
    z: np.ndarray,
    layer: int,
    params: list,
    Y: np.ndarray,
    spec: Any,
    base_Z: list,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward from perturbed z^(layer), (E*6, n, n_l), for E entries' 6-point stencils.

    Returns R at every stencil point, (E*6,), and per entry the number of distinct relu or
    leaky_relu pre-activations (example, unit) whose sign differs from the unperturbed one at
    some stencil point, (E,).
    """
    points = len(OFFSETS)
    crossings = np.zeros(z.shape[0] // points, dtype=np.int64)
    for current in range(layer, spec.depth + 1):
        if current > layer:
            W, b = params[current - 1]
            z = z @ W + b  # (E*6, n, n_l) = (E*6, n, n_{l-1}) @ (n_{l-1}, n_l) + (n_l,)
        name = spec.activations[current - 1]
        if name in KINKED_ACTIVATIONS:
            flipped = np.sign(z) != np.sign(base_Z[current])  # (E*6, n, n_l)
            crossings += flipped.reshape(-1, points, flipped[0].size).any(axis=1).sum(axis=1)
        z = numpy_activation(name)(z)
    risk = per_example_loss(np, spec.loss, z, Y).mean(axis=-1)  # (E*4,)
    return risk, crossings


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


def _layer_entries(
    layer: int,
    params: list,
    A: list,
    Y: np.ndarray,
    spec: Any,
    base_Z: list,
    entries: np.ndarray,
    steps: np.ndarray,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """R at the stencil of the given entries of layer ``layer``'s parameters with the given
    steps, (entries, 6), and the number of kinks each entry's stencil crosses, (entries,).

    Entries are numbered as in the stacked matrix [W^(l); b^(l)], (n_{l-1} + 1, n_l): entry
    (i, j) is W_ij for i < n_{l-1} and b_j for i = n_{l-1}, a weight whose input is always 1.
    A step t in it moves z_j^(l) alone, by t a_i^(l-1) (or t) in every example: only that
    column of layer l is recomputed, and layer l+1 changes by the rank-one term
    (a_j' - a_j) W_j^(l+1). From there on the forward pass runs in full. Every R value is still
    the forward function evaluated at the perturbed parameters.
    """
    W = params[layer - 1][0]
    A_prev, a_base = A[layer - 1], A[layer]
    n = A_prev.shape[0]
    columns = Columns(
        np.vstack([A_prev.T, np.ones((1, n), dtype=A_prev.dtype)]),
        np.ascontiguousarray(base_Z[layer].T),
        np.ascontiguousarray(a_base.T),
        *np.unravel_index(entries, (W.shape[0] + 1, W.shape[1])),
    )
    inputs, z_rows, a_rows, rows, units = columns
    name = spec.activations[layer - 1]
    points = len(OFFSETS)
    risks = np.empty((entries.size, points), dtype=A_prev.dtype)
    crossings = np.zeros(entries.size, dtype=np.int64)
    width_after = spec.widths[min(layer + 1, spec.depth)]
    per_chunk = max(1, chunk // (points * max(1, n * width_after // 64)))  # pragma: no mutate
    work = entries.size * points * n * (1 + width_after)  # the column, then the next layer
    # float64 only: the forward-error model's 4 u |a| per activation is checked for XLA's
    # float64 activations (tests/test_fd.py), not for its float32 approximations
    if layer < spec.depth and work >= COMPILE_ABOVE and A_prev.dtype == np.float64:
        return layer_entries_compiled(layer, params, A, Y, spec, base_Z, steps, columns)
    for start in range(0, entries.size, per_chunk):
        part = slice(start, min(entries.size, start + per_chunk))
        offsets = (steps[part, None] * OFFSETS).reshape(-1)  # (E*6,)
        unit = np.repeat(units[part], points)  # the unit j each perturbed copy moves
        moved = offsets[:, None] * inputs[np.repeat(rows[part], points)]  # (E*6, n)
        z_column = z_rows[unit] + moved  # (E*6, n): the new z_j in every example
        crossed = np.zeros(offsets.size // points, dtype=np.int64)
        if name in KINKED_ACTIVATIONS:
            flipped = np.sign(z_column) != np.sign(z_rows[unit])
            crossed += flipped.reshape(-1, points, n).any(axis=1).sum(axis=1)
        a_column = numpy_activation(name)(z_column)
        if layer == spec.depth:
            H = np.broadcast_to(a_base, (offsets.size, *a_base.shape)).copy()
            H[np.arange(offsets.size), :, unit] = a_column
            risk = per_example_loss(np, spec.loss, H, Y).mean(axis=-1)
        else:
            change = a_column - a_rows[unit]  # (E*6, n)
            W_next = params[layer][0]
            z_next = base_Z[layer + 1][None] + change[:, :, None] * W_next[unit][:, None, :]
            risk, crossed_after = _finish(z_next, layer + 1, params, Y, spec, base_Z)
            crossed += crossed_after
        risks[part] = risk.reshape(-1, points)
        crossings[part] = crossed
    return risks, crossings


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


class Estimate(NamedTuple):
    """What one stencil says about each entry (all (entries,))."""

    value: np.ndarray
    error: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    expanding: np.ndarray  # bool: D(h), D(h/2), D(h/4) follow their expansion beyond noise


def stencil_estimate(
    risks: np.ndarray, base: float, h: np.ndarray, rounding: np.ndarray
) -> Estimate:
    """Values, error estimates and one-sided intervals from R on the stencil.

    ``rounding`` bounds the error of each R value; a difference quotient over s carries at most
    ``rounding / s`` of it.
    """
    plus, minus, plus_half, minus_half, plus_quarter, minus_quarter = risks.T
    d_full = (plus - minus) / (2 * h)
    d_half = (plus_half - minus_half) / h
    d_quarter = (plus_quarter - minus_quarter) / (h / 2)
    coarse = (4 * d_half - d_full) / 3
    value = (4 * d_quarter - d_half) / 3
    noise = rounding / h  # D(h) carries at most this, D(h/2) twice, D(h/4) four times
    error = np.abs(coarse - value) + 6 * noise
    first, second = d_full - d_half, d_half - d_quarter  # c h^2 (3/4) and c h^2 (3/16)
    odd = np.abs(first - 4 * second) <= 0.25 * np.abs(first) + 27 * noise
    # The even part, S(s) = (R(w+s) + R(w-s) - 2 R(w)) / s^2 = R'' + c' s^2 + ..., from the same
    # values: its differences must be in the ratio 4 : 1 too (rounding: 4, 16 and 64 ε / h^2).
    # Far from the asymptotic regime one ratio can come out near 4 by chance; both rarely do.
    s_full, s_half, s_quarter = (
        (up + down - 2 * base) / (s * s)
        for up, down, s in (
            (plus, minus, h),
            (plus_half, minus_half, h / 2),
            (plus_quarter, minus_quarter, h / 4),
        )
    )
    first_even, second_even = s_full - s_half, s_half - s_quarter
    even = np.abs(first_even - 4 * second_even) <= (0.25 * np.abs(first_even) + 340 * noise / h)
    expanding = odd & even
    one_sided = np.stack(
        [
            (base - minus_half) / (h / 2),
            (base - minus_quarter) / (h / 4),
            (plus_half - base) / (h / 2),
            (plus_quarter - base) / (h / 4),
        ]
    )  # (4, entries): left h/2, left h/4, right h/2, right h/4
    spread = np.abs(one_sided[0] - one_sided[1]) + np.abs(one_sided[2] - one_sided[3])
    side_error = spread + 8 * noise
    lower = np.minimum(one_sided.min(axis=0) - side_error, value - error)
    upper = np.maximum(one_sided.max(axis=0) + side_error, value + error)
    return Estimate(value, error, lower, upper, expanding)


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
        for attempt in range(RETRIES + 1):
            risks, crossings = _layer_entries(
                layer, params, A, Y, spec, Z, pending, h[pending], chunk
            )
            rounding = rounding_floor(risks, point)
            estimate = stencil_estimate(risks, base, h[pending], rounding)
            kink = crossings >= 1
            settled = ~kink & estimate.expanding
            if attempt == RETRIES:
                settled[:] = True
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
