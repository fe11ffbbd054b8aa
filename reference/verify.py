"""The three-way check: a candidate implementation, ``jax.grad`` and finite differences.

A failing verdict says what kind of failure it found (``KINDS``, the contract's section 4):
the implementation ran past its time limit, raised, returned something that is not a gradient
of the right structure, returned NaN or infinity where the true gradient is finite, returned
different gradients for the same inputs on two calls, or returned finite values that disagree
with the witnesses. Only the last is a matter for the formula diagnosis.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.autodiff import AutodiffPass, autodiff_started
from reference.calling import OUT_OF_TIME, Called, call_implementation, check_structure
from reference.compare import (
    PRECISIONS,
    Comparison,
    as_float_pairs,
    backprop_error_bound,
    compare_to_autodiff,
    compare_to_fd,
    lecture_index,
)
from reference.fd import FiniteDifferences, finite_differences, sampled_entries
from reference.spec import Spec, arrays_of, as_arrays, as_spec, check_arrays

__all__ = [
    "KINDS",
    "OUT_OF_TIME",
    "Called",
    "ThreeWay",
    "call_implementation",
    "check_structure",
    "verify",
    "verify_calls",
]

#: The kinds of failure, as ``counterexample.kind`` names them (``../CONTRACT.md`` section 4).
KINDS = ("wrong_values", "non_finite", "nondeterministic", "raised", "bad_structure", "timeout")

#: Each kind in words, as the printed verdict names it first.
KIND_WORDS = {
    "wrong_values": "wrong values (finite, but not the gradient)",
    "non_finite": "non-finite values (NaN or infinity where the gradient is finite)",
    "nondeterministic": "nondeterministic (two calls on the same inputs disagree)",
    "raised": "the implementation raised an exception",
    "bad_structure": "a result of the wrong structure (not L pairs of arrays of the right shapes)",
    "timeout": "the implementation did not return in time",
}

_CALLS = [0]


def verify_calls() -> int:
    """How many three-way checks ``verify`` has run in this process."""
    return _CALLS[0]


@dataclass
class Entry:
    """One entry of the candidate's gradient, named in lecture numbering."""

    layer: int  # 1-based
    param: str  # "W" or "b"
    index: tuple[int, ...]  # 0-based, into the contract's array
    shape: tuple[int, ...]
    value: float  # the candidate's
    witness: float  # jax.grad's, or the second call's value for a nondeterministic result

    @property
    def name(self) -> str:
        return lecture_index(self.param, self.layer, self.index, self.shape)


@dataclass
class ThreeWay:
    """The verdict on one case: every pair of witnesses compared."""

    spec: Spec
    dtype: np.dtype
    candidate: list | None  # the candidate's gradient as float64 NumPy pairs, if well-formed
    reference: AutodiffPass
    fd: FiniteDifferences
    error: str | None  # what went wrong in words, for every kind but wrong values
    vs_autodiff: Comparison | None
    vs_fd: Comparison | None
    autodiff_vs_fd: Comparison
    kind: str | None = None  # one of KINDS; None when the candidate agrees
    non_finite: list[Entry] = field(default_factory=list)  # every non-finite entry
    repeat: Entry | None = None  # nondeterministic: where two calls differ most
    precision: str = "standard"  # the numerical standard judged by (see compare.PRECISIONS)
    bounds: list | None = None  # the backward pass's rounding bound per entry
    params: list = field(default_factory=list)  # the case as judged, in ``dtype``
    Y: np.ndarray | None = None
    unsupported: bool = False  # NotImplementedError: not judged (no finite differences run)

    @property
    def ok(self) -> bool:
        """The candidate agrees with both witnesses (and the witnesses with each other)."""
        return self.kind is None and self.autodiff_vs_fd.ok

    def message(self) -> str:
        """What disagrees, and where; every comparison, one section each."""
        head = f"spec {self.spec}, dtype {self.dtype}"
        if self.kind is not None:
            head += f": {KIND_WORDS[self.kind]}"
        if self.error is not None:
            return f"{head}\n  {self.error}"
        parts = [head]
        for comparison in (self.vs_autodiff, self.vs_fd):
            if comparison is not None:
                parts.append(comparison.message())
        parts.append("jax.grad " + self.autodiff_vs_fd.message())
        return "\n".join(parts)


def _entries_where(mask: np.ndarray, layer: int, param: str, cand, other) -> list[Entry]:
    return [
        Entry(
            layer,
            param,
            tuple(int(i) for i in index),
            cand.shape,
            float(cand[index]),
            float(other[index]),
        )
        for index in map(tuple, np.argwhere(mask))
    ]


def _non_finite_entries(candidate: list, reference: list) -> list[Entry]:
    """Every entry that is NaN or infinite where the reference is finite."""
    candidate = as_float_pairs(candidate)
    if all(np.isfinite(a).all() for a in arrays_of(candidate)):
        return []
    found = []
    for layer, (cand, ref) in enumerate(zip(candidate, reference, strict=True), start=1):
        for param, c, r in zip("Wb", cand, ref, strict=True):
            found += _entries_where(~np.isfinite(c) & np.isfinite(r), layer, param, c, r)
    return found


#: How often a failing implementation is called again before its failure is taken as
#: deterministic: random dropout over a unit or two keeps the same mask several times in a row.
_FAILURE_REPEATS = 4

#: How many entries a message names before it says "and N more".
_NAMED = 6


def _describe_entries(entries: list[Entry]) -> str:
    """``W^(1)_12 is nan, b^(2)_1 is inf, ... and 3 more``."""
    named = [f"{e.name} is {e.value:g}" for e in entries[:_NAMED]]
    more = len(entries) - _NAMED
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def _largest_difference(first: list, second: list) -> Entry | None:
    """Where two well-formed results differ most (NaN against a number counts as infinite);
    None if they are equal entry for entry."""
    first, second = as_float_pairs(first), as_float_pairs(second)
    if all(
        np.array_equal(a, b, equal_nan=True)
        for one, two in zip(first, second, strict=True)
        for a, b in zip(one, two, strict=True)
    ):
        return None
    worst, worst_gap = None, 0.0
    for layer, (one, two) in enumerate(zip(first, second, strict=True), start=1):
        for param, a, b in zip("Wb", one, two, strict=True):
            with np.errstate(invalid="ignore"):
                gap = np.abs(a - b)
            same = (a == b) | (np.isnan(a) & np.isnan(b))
            gap = np.where(same, 0.0, np.where(np.isnan(gap), np.inf, gap))
            if gap.size and gap.max() > worst_gap:
                index = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape))
                worst_gap = float(gap.max())
                worst = Entry(layer, param, index, a.shape, float(a[index]), float(b[index]))
    return worst


def _repeat_differs(first: Called, second: Called) -> tuple[Entry | None, str | None]:
    """Compare two calls on the same inputs: (where the values differ most, or None; words
    saying how the two calls differ, or None if they agree)."""
    if first.pairs is None or second.pairs is None:
        if (first.kind, first.error) == (second.kind, second.error):
            return None, None

        def said(call: Called) -> str:
            return call.error if call.pairs is None else "returned a gradient"

        return None, f"the first call {said(first)}; the second, on the same inputs, {said(second)}"
    where = _largest_difference(first.pairs, second.pairs)
    if where is None:
        return None, None
    return where, (
        f"two calls on the same inputs returned different gradients: {where.name} was "
        f"{where.value:.17g}, then {where.witness:.17g} (the largest difference, "
        f"{abs(where.value - where.witness):.3g}); the implementation keeps state between "
        f"calls (buffers not reset) or draws random numbers (dropout left on)"
    )


def verify(
    implementation: Callable,
    params: Any,
    X: Any,
    Y: Any,
    spec: Any,
    *,
    dtype: Any = np.float64,
    time_limit: float | None = None,
    precision: str = "standard",
    other_inputs: Callable[[list, np.ndarray, Spec], tuple[list, np.ndarray]] | None = None,
) -> ThreeWay:
    """Check ``implementation(params, X, Y, spec)`` against ``jax.grad`` and finite differences.

    The inputs are cast to ``dtype`` (float64 or float32) before the implementation sees them;
    ``jax.grad`` runs in the same dtype, the finite differences in float64. ``precision`` is the
    numerical standard: ``"standard"`` (activation values accurate to a few units of roundoff of
    the activation's own scale) or ``"strict"`` (accurate relatively); see
    ``reference.compare``. Whatever the implementation does (raise, return garbage, run past
    ``time_limit`` seconds), the result is a verdict, never an exception. The implementation
    is called twice on the same inputs (a failing one up to ``_FAILURE_REPEATS`` times more,
    each after a call on other inputs of the same shapes, ``other_inputs(params, X, spec)``, by
    default 2W, 2b + 1 and 2X + 1): a different result makes the verdict ``nondeterministic``.
    An implementation that raises ``NotImplementedError`` has declared the case outside its
    scope: the verdict is ``raised`` with ``unsupported`` set, and nothing more is computed.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    spec = as_spec(spec)
    check_arrays(params, X, Y, spec)
    params, X, Y = as_arrays(params, X, Y, dtype)
    _CALLS[0] += 1
    # JAX computes the reference while the implementation runs and, where they need nothing
    # from the reference, the finite differences too
    started = autodiff_started(params, X, Y, spec, checked=True)
    first = call_implementation(implementation, params, X, Y, spec, dtype, time_limit)
    if first.unsupported:
        return ThreeWay(
            spec,
            np.dtype(dtype),
            None,
            started(),
            None,  # type: ignore[arg-type]
            first.error,
            None,
            None,
            None,  # type: ignore[arg-type]
            kind=first.kind,
            precision=precision,
            params=params,
            Y=Y,
            unsupported=True,
        )
    verdict = _judged(first, started, params, X, Y, spec, np.dtype(dtype), precision)
    if verdict.kind != "timeout":  # every result is asked for twice, a failure more often
        again = functools.partial(call_implementation, implementation, Y=Y, spec=spec, dtype=dtype)
        _call_again(verdict, first, again, params, X, other_inputs, time_limit)
    return verdict


def _judged(
    first: Called,
    started: Callable[[], AutodiffPass],
    params: list,
    X: np.ndarray,
    Y: np.ndarray,
    spec: Spec,
    dtype: np.dtype,
    precision: str,
) -> ThreeWay:
    """The first call's result against jax.grad (its rounding bound) and finite differences
    (every entry where that is cheap, else the worst entries and a few at random)."""
    fd = None
    if sampled_entries(spec, X) is None:
        fd = finite_differences(params, X, Y, spec, checked=True)
    reference = started()
    bounds = backprop_error_bound(reference, params, Y, spec, dtype, precision=precision)
    vs_autodiff = None
    if first.pairs is not None:
        vs_autodiff = compare_to_autodiff(first.pairs, reference, params, Y, spec, dtype, bounds)
    if fd is None:
        entries = sampled_entries(spec, X, vs_autodiff)
        fd = finite_differences(params, X, Y, spec, entries=entries, checked=True)
    autodiff_vs_fd = compare_to_fd(reference.grads, fd, bounds)
    verdict = ThreeWay(
        spec,
        dtype,
        None,
        reference,
        fd,
        first.error,
        vs_autodiff,
        None,
        autodiff_vs_fd,
        kind=first.kind,
        precision=precision,
        bounds=bounds,
        params=params,
        Y=Y,
    )
    if first.pairs is not None:
        verdict.candidate = as_float_pairs(first.pairs)
        verdict.vs_fd = vs_fd = compare_to_fd(first.pairs, fd, bounds)
        verdict.non_finite = _non_finite_entries(first.pairs, reference.grads)
        if verdict.non_finite:
            verdict.kind = "non_finite"
            count = len(verdict.non_finite)
            verdict.error = (
                f"returned {count} non-finite entr{'y' if count == 1 else 'ies'} where the "
                f"gradient is finite: {_describe_entries(verdict.non_finite)}"
            )
        elif not (vs_autodiff.ok and vs_fd.ok):
            verdict.kind = "wrong_values"
    return verdict


def _call_again(
    verdict: ThreeWay,
    first: Called,
    again: Callable[..., Called],
    params: list,
    X: np.ndarray,
    other_inputs: Callable | None,
    time_limit: float | None,
) -> None:
    """Ask for the result again (a failure ``_FAILURE_REPEATS`` times, each after a call on
    other inputs of the same shapes); a different answer makes ``verdict`` nondeterministic."""
    if other_inputs is None:
        moved, moved_X = [(2 * W, 2 * b + 1) for W, b in params], 2 * X + 1
    else:
        moved, moved_X = other_inputs(params, X, verdict.spec)
    for _ in range(1 if verdict.kind is None else _FAILURE_REPEATS):
        if verdict.kind is not None:
            # in between, a call on other inputs of the same shapes, so that state a call
            # leaves behind shows even where this case's gradient is zero
            again(params=moved, X=moved_X, time_limit=time_limit)
        second = again(params=params, X=X, time_limit=time_limit)
        verdict.repeat, words = _repeat_differs(first, second)
        if words is not None:
            verdict.kind, verdict.error = "nondeterministic", words
            break
