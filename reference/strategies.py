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

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference.spec import ACTIVATIONS, LOSSES, Spec

__all__ = ["Case", "architectures", "batches", "cases", "networks", "specs", "targets", "values"]


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
    if not 1 <= min_depth <= max_depth:
        raise ValueError(f"Need 1 <= min_depth <= max_depth, got {min_depth}, {max_depth}.")
    if not 1 <= min_width <= max_width:
        raise ValueError(f"Need 1 <= min_width <= max_width, got {min_width}, {max_width}.")
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
        weights = draw(hnp.arrays(np.float64, shape, elements=st.integers(0, 3).map(float)))
        weights[:, 0] += weights.sum(axis=1) == 0  # an all-zero row becomes one-hot
        return weights / weights.sum(axis=1, keepdims=True)
    return draw(_matrix(shape, "integer" if draw(st.booleans()) else "float"))


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
) -> Case:
    """A whole ``Case``: spec, parameters, inputs and targets.

    Defaults: depth 1 to 4, widths 1 to 8, batch 1 to 8, every activation and loss, the value
    style of the parameters drawn (see ``values``; pass one to fix it).
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
    params = draw(networks(spec, style=style))
    X = draw(batches(spec, min_size=min_batch, max_size=max_batch, style=style))
    Y = draw(targets(spec, X.shape[0]))
    return Case(spec, params, X, Y)
