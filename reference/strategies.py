"""Hypothesis strategies for random networks, public and composable.

Build your own property tests on them::

    from hypothesis import given
    from reference.strategies import cases

    @given(cases(max_depth=3))
    def test_my_backprop(case):
        grads = my_gradients(case.params, case.X, case.Y, case.spec)
        ...

Every strategy builds the wanted shapes directly (no filtering) and reaches the edges on
purpose: width 1, batch 1, the deepest allowed network, exact zeros, small integer weights (exact
relu kinks and ties), and large weights that push pre-activations to the hundreds, where
sigmoid and tanh saturate. Drawn values shrink towards small integers, so a failing case shrinks
to one a person can check by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference.spec import ACTIVATIONS, LOSSES, Spec

__all__ = [
    "Case",
    "architectures",
    "batches",
    "cases",
    "networks",
    "random_case",
    "seeded_cases",
    "specs",
    "targets",
    "values",
]


@dataclass(frozen=True)
class Case:
    """One random problem: a spec, its parameters and a batch."""

    spec: Spec
    params: list  # L pairs (W (n_{l-1}, n_l), b (n_l,)), float64
    X: np.ndarray  # (n, n_0)
    Y: np.ndarray  # (n, n_L)

    def snippet(self) -> str:
        """Ready-to-run Python that rebuilds this case."""
        rows = ["import numpy as np", "from reference import Spec", ""]
        rows.append(
            f"spec = Spec({self.spec.widths!r}, {self.spec.activations!r}, {self.spec.loss!r})"
        )
        rows.append("params = [")
        for W, b in self.params:
            rows.append(f"    (np.array({W.tolist()!r}),")
            rows.append(f"     np.array({b.tolist()!r})),")
        rows.append("]")
        rows.append(f"X = np.array({self.X.tolist()!r})")
        rows.append(f"Y = np.array({self.Y.tolist()!r})")
        return "\n".join(rows)


#: Value styles, simplest first (Hypothesis shrinks towards the first).
STYLES = ("integer", "float", "sparse", "large")


def values(style: str) -> st.SearchStrategy[float]:
    """Scalar entries of one style.

    - ``integer``: small integers in [-3, 3]: exact arithmetic, exact relu kinks, ties;
    - ``float``: floats in [-2, 2];
    - ``sparse``: mostly exact zeros, else floats in [-2, 2];
    - ``large``: floats up to ±40, so that pre-activations reach the hundreds.
    """
    if style == "integer":
        return st.integers(-3, 3).map(float)
    if style == "float":
        return st.floats(-2, 2, allow_subnormal=False)
    if style == "sparse":
        return st.one_of(st.just(0.0), st.just(0.0), st.floats(-2, 2, allow_subnormal=False))
    if style == "large":
        return st.floats(-40, 40, allow_subnormal=False)
    raise ValueError(f"Unknown value style {style!r}; valid styles are {', '.join(STYLES)}.")


def _check_range(low: int, high: int, what: str) -> None:
    """A ValueError unless 1 <= low <= high (the bounds ``min_what``, ``max_what``)."""
    if not 1 <= low <= high:
        raise ValueError(f"Need 1 <= min_{what} <= max_{what}, got {low}, {high}.")


@st.composite
def architectures(
    draw: st.DrawFn,
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    min_width: int = 1,
    max_width: int = 8,
) -> tuple[int, ...]:
    """Widths ``(n_0, ..., n_L)`` with L in [min_depth, max_depth], each in [min_width, max_width].

    Defaults: depth 1 to 4, widths 1 to 8.
    """
    _check_range(min_depth, max_depth, "depth")
    _check_range(min_width, max_width, "width")
    depth = draw(st.integers(min_depth, max_depth))
    return tuple(draw(st.integers(min_width, max_width)) for _ in range(depth + 1))


@st.composite
def specs(
    draw: st.DrawFn,
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    min_width: int = 1,
    max_width: int = 8,
    activations: Sequence[str] = ACTIVATIONS,
    losses: Sequence[str] = LOSSES,
) -> Spec:
    """A ``Spec``: an architecture, one activation per layer drawn from ``activations``, a loss.

    Defaults: depth 1 to 4, widths 1 to 8, every activation and loss.
    """
    widths = draw(
        architectures(
            min_depth=min_depth, max_depth=max_depth, min_width=min_width, max_width=max_width
        )
    )
    chosen = tuple(draw(st.sampled_from(tuple(activations))) for _ in widths[1:])
    return Spec(widths, chosen, draw(st.sampled_from(tuple(losses))))


def _matrix(shape: tuple[int, ...], style: str) -> st.SearchStrategy[np.ndarray]:
    # fill=nothing() draws every entry: dense, full-rank-looking matrices by default (equal
    # entries would hide transposition bugs); ties still come from the integer style.
    return hnp.arrays(np.float64, shape, elements=values(style), fill=st.nothing())


@st.composite
def networks(draw: st.DrawFn, spec: Spec, *, style: str | None = None) -> list:
    """Parameters for ``spec``: L pairs (W (n_{l-1}, n_l), b (n_l,)), float64.

    ``style`` picks the value style (see ``values``); by default it is drawn.
    """
    style = style or draw(st.sampled_from(STYLES))
    return [
        (draw(_matrix(w_shape, style)), draw(_matrix(b_shape, style)))
        for w_shape, b_shape in spec.shapes()
    ]


@st.composite
def batches(
    draw: st.DrawFn, spec: Spec, *, min_size: int = 1, max_size: int = 8, style: str | None = None
) -> np.ndarray:
    """Inputs X, shape (n, n_0) with n in [min_size, max_size] (defaults 1 to 8)."""
    n = draw(st.integers(min_size, max_size))
    if style == "large" or style is None:  # large inputs add nothing that large weights miss
        style = draw(st.sampled_from(STYLES[:3]))
    return draw(_matrix((n, spec.widths[0]), style))


@st.composite
def targets(draw: st.DrawFn, spec: Spec, n: int) -> np.ndarray:
    """Targets Y, shape (n, n_L), valid for the loss.

    ``square`` and ``output``: any small values; ``logistic``: y in [0, 1];
    ``softmax_cross_entropy``: each row a probability vector (one-hot or mixed).
    """
    shape = (n, spec.widths[-1])
    if spec.loss == "logistic":
        return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0, 0.5, 0.25])))
    if spec.loss == "softmax_cross_entropy":
        return _probabilities(draw(hnp.arrays(np.float64, shape, elements=st.integers(0, 3))))
    return draw(_matrix(shape, "integer" if draw(st.booleans()) else "float"))


def _probabilities(weights: np.ndarray) -> np.ndarray:
    """Rows of small integer weights made probability vectors (an all-zero row one-hot)."""
    weights = weights.astype(np.float64)
    weights[:, 0] += weights.sum(axis=1) == 0
    return weights / weights.sum(axis=1, keepdims=True)


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    min_width: int = 1,
    max_width: int = 8,
    min_batch: int = 1,
    max_batch: int = 8,
    activations: Sequence[str] = ACTIVATIONS,
    losses: Sequence[str] = LOSSES,
    style: str | None = None,
    seeded: bool = False,
) -> Case:
    """A whole ``Case``: spec, parameters, inputs and targets.

    Defaults: depth 1 to 4, widths 1 to 8, batch 1 to 8, every activation and loss, the value
    style of the parameters drawn (see ``values``; pass one to fix it). ``seeded`` draws each
    array from a NumPy generator (see ``seeded_cases``).
    """
    spec = draw(
        specs(
            min_depth=min_depth,
            max_depth=max_depth,
            min_width=min_width,
            max_width=max_width,
            activations=activations,
            losses=losses,
        )
    )
    if seeded:
        return _seeded_case(draw, spec, min_batch, max_batch, style)
    params = draw(networks(spec, style=style))
    X = draw(batches(spec, min_size=min_batch, max_size=max_batch, style=style))
    Y = draw(targets(spec, X.shape[0]))
    return Case(spec, params, X, Y)


#: Values every seeded style mixes in, edges on purpose: exact zeros and small dyadics, a third
#: (inexact), tiny normal numbers near float64's and float32's underflow, values near 1.
_SPECIAL = np.array(
    [
        *(0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1 / 3, 0.99, 0.01, 1e-5, -1e-5),
        *(2.2250738585072014e-308, -1e-300, 1.1754943508222875e-38, -(2.0**-60)),
    ]
)


def _seeded_values(rng: np.random.Generator, shape: tuple[int, ...], style: str) -> np.ndarray:
    """The values of one array in one style, drawn from ``rng`` (see ``values``)."""
    if style == "integer":
        return rng.integers(-3, 4, size=shape).astype(np.float64)
    scale = 40.0 if style == "large" else 2.0
    out = rng.uniform(-scale, scale, size=shape)
    special = rng.random(shape) < 0.2
    out[special] = rng.choice(_SPECIAL, size=int(special.sum()))
    if style == "sparse":
        out[rng.random(shape) < 0.6] = 0.0
    return out


_SEEDS = st.integers(0, 2**63 - 1)
_STYLES = st.sampled_from(STYLES)
_INPUT_STYLES = st.sampled_from(STYLES[:3])
_TARGET_STYLES = st.sampled_from(STYLES[:2])


def seeded_cases(**bounds: Any) -> st.SearchStrategy[Case]:
    """Like ``cases`` (same bounds and defaults), with the arrays drawn from a NumPy generator.

    Hypothesis draws the structure (depth, widths, activations, loss, batch, style) and one
    seed for all the arrays, so a case costs about fifteen draws instead of one per number.
    The values follow the same styles and mix in the same edges (zeros, small integers, tiny
    normal numbers, values near 1). Hypothesis can shrink the structure but not the values
    inside the seed; property tests that rely on Hypothesis's shrinking should use ``cases``.
    (``reference.harness.check`` goes further: ``random_case`` draws everything from NumPy, and
    its own ``minimize`` shrinks.)
    """
    return cases(seeded=True, **bounds)


def _seeded_case(
    draw: st.DrawFn, spec: Spec, min_batch: int, max_batch: int, style: str | None
) -> Case:
    _check_range(min_batch, max_batch, "batch")
    style = style or draw(_STYLES)
    n = draw(st.integers(min_batch, max_batch))
    input_style = draw(_INPUT_STYLES) if style == "large" else style
    target_style = draw(_TARGET_STYLES)
    rng = np.random.default_rng(draw(_SEEDS))  # one generator for every array of the case
    return _case_values(rng, spec, n, style, input_style, target_style)


def _case_values(
    rng: np.random.Generator, spec: Spec, n: int, style: str, input_style: str, target_style: str
) -> Case:
    """Parameters, inputs and targets for ``spec`` and batch ``n``, drawn from ``rng``."""
    params = [
        (_seeded_values(rng, w_shape, style), _seeded_values(rng, b_shape, style))
        for w_shape, b_shape in spec.shapes()
    ]
    X = _seeded_values(rng, (n, spec.widths[0]), input_style)
    if spec.loss in ("logistic", "softmax_cross_entropy"):
        codes = rng.integers(0, 4, size=(n, spec.widths[-1]))
        if spec.loss == "logistic":
            Y = np.array([0.0, 1.0, 0.5, 0.25])[codes]
        else:
            Y = _probabilities(codes)
    else:
        Y = _seeded_values(rng, (n, spec.widths[-1]), target_style)
    return Case(spec, params, X, Y)


def _edgy(rng: np.random.Generator, low: int, high: int, *, spread: bool = False) -> int:
    """An integer in [low, high]: each end one time in eight, else uniform, or with ``spread``
    log-uniform (as many draws in 2-4 as in 16-32: a wide range's middle stays cheap)."""
    pick = rng.random()
    if pick < 0.125:
        return low
    if pick < 0.25:
        return high
    if spread:
        value = np.exp(rng.uniform(np.log(low), np.log(high + 1)))
        return min(high, max(low, int(value)))
    return int(rng.integers(low, high + 1))


#: The small corner of every range that three draws in four come from (each bound clipped to
#: the range asked for): most mistakes show there, where cases are cheapest and shrink fastest.
SMALL_CORNER = {"depth": 4, "width": 8, "batch": 8}
#: The share of draws that span the whole range instead, so that a mistake that shows only in
#: deep, wide or large-batch networks (a loop bound, a block size, a chunked sum) is met too.
WIDE_SHARE = 0.25


def random_case(
    rng: np.random.Generator,
    *,
    min_depth: int = 1,
    max_depth: int = 8,
    min_width: int = 1,
    max_width: int = 48,
    min_batch: int = 1,
    max_batch: int = 64,
    activations: Sequence[str] = ACTIVATIONS,
    losses: Sequence[str] = LOSSES,
    wide_share: float = WIDE_SHARE,
    output_activations: Sequence[str] | None = None,
    inputs: tuple[int, int] | None = None,
    outputs: tuple[int, int] | None = None,
) -> Case:
    """A whole ``Case`` drawn from a NumPy generator alone, with no Hypothesis draw at all.

    Defaults: depth 1 to 8, widths 1 to 48, batch 1 to 64, every activation and loss. With
    probability ``1 - wide_share`` the depth, widths and batch come from ``SMALL_CORNER`` (depth
    up to 4, widths and batch up to 8, clipped to the bounds), else from the whole range; in
    both, each end of a range is drawn one time in eight, and in the whole range widths and
    batch are otherwise log-uniform (the depth uniform). Values follow ``seeded_cases``'s
    styles and edges. ``output_activations`` (default ``activations``) are those of the output
    layer, ``inputs`` and ``outputs`` (ranges, default the widths') bound n_0 and n_L; with the
    defaults the draws are the same as without them.

    For loops that need thousands of cases a second and shrink on their own
    (``reference.harness.check``); property tests want ``cases`` or ``seeded_cases``.
    """
    _check_range(min_depth, max_depth, "depth")
    _check_range(min_width, max_width, "width")
    _check_range(min_batch, max_batch, "batch")
    wide = rng.random() < wide_share

    def top(low: int, high: int, what: str) -> int:
        return high if wide else max(low, min(high, SMALL_CORNER[what]))

    depth = _edgy(rng, min_depth, top(min_depth, max_depth, "depth"))
    ranges = [(min_width, max_width)] * (depth + 1)
    ranges[0] = inputs or ranges[0]
    ranges[-1] = outputs or ranges[-1]
    for low, high in ranges:
        _check_range(low, high, "width")
    widths = tuple(_edgy(rng, low, top(low, high, "width"), spread=wide) for low, high in ranges)
    last = activations if output_activations is None else output_activations
    chosen = tuple(
        str(rng.choice(activations if layer < depth - 1 else last)) for layer in range(depth)
    )
    spec = Spec(widths, chosen, str(rng.choice(losses)))
    style = str(rng.choice(STYLES))
    n = _edgy(rng, min_batch, top(min_batch, max_batch, "batch"), spread=wide)
    input_style = str(rng.choice(STYLES[:3])) if style == "large" else style
    return _case_values(rng, spec, n, style, input_style, str(rng.choice(STYLES[:2])))
