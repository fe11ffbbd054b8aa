"""Verdicts: does a candidate gradient agree with a witness, per layer and parameter?

Against ``jax.grad`` every entry is judged by twice the rounding bound of
``reference.tolerance`` (both computations round). Against finite differences the tolerance is
the finite-difference error estimate plus the candidate's own bound; at kinks the candidate must
lie in the one-sided interval, and where the finite differences abstain (two or more kinks inside
the stencil) they judge nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.autodiff import AutodiffPass
from reference.fd import FiniteDifferences
from reference.spec import Spec, lecture_name
from reference.tolerance import PRECISIONS, backprop_error_bound

lecture_index = lecture_name  # the name this module has always offered

__all__ = [
    "PRECISIONS",
    "Comparison",
    "ParamComparison",
    "as_float_pairs",
    "backprop_error_bound",
    "compare_to_autodiff",
    "compare_to_fd",
    "lecture_index",
]


def _measured(values: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return values


class ParamComparison:
    """How one parameter array (``W`` or ``b`` of a layer) compares with a witness.

    Built from the entrywise arrays; the summary (worst entry, its values, the wrong entries)
    is worked out when first asked for, since most comparisons are only asked ``ok``.
    """

    def __init__(
        self,
        layer: int,
        param: str,
        candidate: np.ndarray,
        witness: np.ndarray,
        bad: np.ndarray,
        measure: Callable[[], tuple[np.ndarray, np.ndarray]],
        kink: np.ndarray | None = None,
        unresolved: np.ndarray | None = None,
    ) -> None:
        """``bad`` flags the wrong entries; ``measure()`` gives each entry's |diff| / tolerance
        and its tolerance; ``kink`` and ``unresolved`` flag the finite differences' kink and
        abstaining entries (against finite differences only)."""
        self.layer = layer  # 1-based, lecture numbering
        self.param = param  # "W" or "b"
        self.bad = bad  # bool, shaped like the parameter: the entries outside tolerance
        self.ok = not bad.any()
        self._arrays = (candidate, witness)
        self._measure = measure
        self._flags = (kink, unresolved)

    @property
    def kink_entries(self) -> int:
        """Entries whose finite-difference stencil crosses a kink."""
        return 0 if self._flags[0] is None else int(self._flags[0].sum())

    @property
    def unresolved_entries(self) -> int:
        """Entries where the finite differences abstain (two or more kinks)."""
        return 0 if self._flags[1] is None else int(self._flags[1].sum())

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._arrays[0].shape)

    @property
    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """The candidate's array and the witness's, entry by entry."""
        return self._arrays

    def __getstate__(self) -> dict[str, Any]:
        """For another process (``check --jobs``): the lazy measure, evaluated."""
        state = dict(self.__dict__)
        state["_measure"] = functools.partial(_measured, self._measure())
        return state

    def ratios(self) -> np.ndarray:
        """Each entry's |candidate - witness| / tolerance (at kinks, its distance from the
        middle of the one-sided interval over the half width; 0 where nothing is judged)."""
        return self._measure()[0]

    def tolerances(self) -> np.ndarray:
        """Each entry's tolerance (at kinks, the one-sided interval's half width)."""
        return self._measure()[1]

    @functools.cached_property
    def _summary(self) -> dict[str, Any]:
        candidate, witness = self._arrays
        diff = np.abs(candidate - witness)
        if diff.size == 0:
            return {
                "max_abs_error": 0.0,
                "max_rel_error": 0.0,
                "worst_ratio": 0.0,
                "bad_entries": [],
                "worst_entry": None,
                "candidate_value": None,
                "witness_value": None,
                "tolerance": None,
            }
        ratio, tolerance = self._measure()
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        worst = np.unravel_index(int(np.argmax(ratio)), diff.shape)
        w_value = float(witness[worst])
        worst_diff = float(diff[worst])
        rel = worst_diff / abs(w_value) if w_value != 0 else (0.0 if worst_diff == 0 else np.inf)
        return {
            "max_abs_error": float(np.nanmax(diff)) if not np.isnan(diff).all() else float("nan"),
            "max_rel_error": float(rel),  # |candidate - witness| / |witness| at the worst entry
            "worst_ratio": float(ratio[worst]),  # max over entries of |diff| / tolerance
            "bad_entries": [tuple(int(i) for i in idx) for idx in np.argwhere(self.bad)],  # 0-based
            "worst_entry": tuple(int(i) for i in worst),
            "candidate_value": float(candidate[worst]),
            "witness_value": w_value,
            "tolerance": float(tolerance[worst]),  # at the worst entry
        }

    max_abs_error = property(lambda self: self._summary["max_abs_error"])
    max_rel_error = property(lambda self: self._summary["max_rel_error"])
    worst_ratio = property(lambda self: self._summary["worst_ratio"])
    bad_entries = property(lambda self: self._summary["bad_entries"])
    worst_entry = property(lambda self: self._summary["worst_entry"])
    candidate_value = property(lambda self: self._summary["candidate_value"])
    witness_value = property(lambda self: self._summary["witness_value"])
    tolerance = property(lambda self: self._summary["tolerance"])

    def describe(self) -> str:
        """One line: where the worst entry is, both values, the error and its tolerance."""
        if self.worst_entry is None:
            return f"layer {self.layer}, {self.param}: empty"
        name = lecture_index(self.param, self.layer, self.worst_entry, self.shape)
        index = ", ".join(str(i) for i in self.worst_entry)
        verdict = "ok" if self.ok else f"{len(self.bad_entries)} entries wrong"
        return (
            f"layer {self.layer}, {self.param}[{index}] ({name}): candidate "
            f"{self.candidate_value:.17g} vs witness {self.witness_value:.17g}, |diff| "
            f"{self.max_abs_error:.3g} (tolerance {self.tolerance:.3g}), {verdict}"
        )


@dataclass
class Comparison:
    """A candidate gradient against one witness, every (layer, parameter) compared."""

    witness: str
    params: list[ParamComparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # dtype and other whole-result issues

    @property
    def ok(self) -> bool:
        return not self.problems and all(p.ok for p in self.params)

    @property
    def mismatches(self) -> list[ParamComparison]:
        return [p for p in self.params if not p.ok]

    @property
    def max_abs_error(self) -> float:
        return max((p.max_abs_error for p in self.params), default=0.0)

    def message(self) -> str:
        """Every problem and every wrong (layer, parameter), one per line."""
        lines = [f"against {self.witness}: " + ("agrees" if self.ok else "DISAGREES")]
        lines += [f"  {problem}" for problem in self.problems]
        lines += [f"  {p.describe()}" for p in self.mismatches]
        return "\n".join(lines)


def _dtype_problems(candidate: list, dtype: Any) -> list[str]:
    problems = []
    for layer, pair in enumerate(candidate, start=1):
        for param, array in zip("Wb", pair, strict=True):
            got = np.asarray(array).dtype
            if np.issubdtype(got, np.floating) and np.finfo(got).eps > np.finfo(dtype).eps:
                problems.append(
                    f"layer {layer}, {param}: returned {got} for {np.dtype(dtype)} inputs; "
                    f"precision was lost."
                )
    return problems


def as_float_pairs(candidate: list) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (np.asarray(dW, dtype=np.float64), np.asarray(db, dtype=np.float64)) for dW, db in candidate
    ]


def compare_to_autodiff(
    candidate: list,
    ref: AutodiffPass,
    params: list,
    Y: np.ndarray,
    spec: Spec,
    dtype: Any,
    bounds: list | None = None,
) -> Comparison:
    """Compare a gradient computed in ``dtype`` with the ``jax.grad`` pass ``ref``.

    Entry tolerance: twice ``backprop_error_bound`` (both sides round; pass ``bounds`` if it is
    already computed for this case and dtype), plus the smallest normal number of ``dtype`` so
    that two underflowed values never disagree.
    """
    if bounds is None:
        bounds = backprop_error_bound(ref, params, Y, spec, dtype)
    tiny = float(np.finfo(dtype).tiny)
    comparison = Comparison("jax.grad", problems=_dtype_problems(candidate, dtype))
    for layer, (cand, wit, bound) in enumerate(
        zip(as_float_pairs(candidate), ref.grads, bounds, strict=True), start=1
    ):
        for param, c, w, e in zip("Wb", cand, wit, bound, strict=True):
            w = np.asarray(w, dtype=np.float64)
            tolerance = 2 * e + tiny
            bad = ~(np.abs(c - w) <= tolerance)  # NaN counts as bad

            def measure(c=c, w=w, tolerance=tolerance) -> tuple[np.ndarray, np.ndarray]:
                with np.errstate(over="ignore", invalid="ignore"):  # inf is a fine verdict
                    return np.abs(c - w) / tolerance, tolerance

            comparison.params.append(ParamComparison(layer, param, c, w, bad, measure))
    return comparison


def compare_to_fd(
    candidate: list,
    fd: FiniteDifferences,
    candidate_bounds: list | None = None,
    *,
    witness: str = "finite differences",
) -> Comparison:
    """Compare a gradient with the finite-difference witness, using its error estimate.

    A smooth entry must lie within the estimate (plus the candidate's own rounding bound, if
    given); a kink entry must lie in the one-sided interval ``[lower, upper]`` (widened the same
    way).
    """
    comparison = Comparison(witness)
    for layer, cand in enumerate(as_float_pairs(candidate), start=1):
        for k, (param, c) in enumerate(zip("Wb", cand, strict=True)):
            value = fd.gradients[layer - 1][k]
            lower, upper = fd.lower[layer - 1][k], fd.upper[layer - 1][k]
            kink = fd.kink[layer - 1][k]
            # no verdict where the finite differences abstain or did not difference the entry
            unresolved = fd.unresolved[layer - 1][k] | ~fd.sampled[layer - 1][k]
            extra = 0.0 if candidate_bounds is None else 2 * candidate_bounds[layer - 1][k]
            low, high = lower - extra, upper + extra
            bad = ~((c >= low) & (c <= high)) & ~unresolved

            def measure(
                c=c, low=low, high=high, unresolved=unresolved
            ) -> tuple[np.ndarray, np.ndarray]:
                resolved_low = np.where(unresolved, 0, low)
                resolved_high = np.where(unresolved, 0, high)
                half_width = np.maximum(
                    (resolved_high - resolved_low) / 2, np.finfo(np.float64).tiny
                )
                # inf is a fine verdict; an interval of infinite width (a bound that overflowed)
                # holds every value, and its undefined centre measures nothing
                everything = unresolved | (half_width == np.inf)
                with np.errstate(over="ignore", invalid="ignore"):
                    centre = (resolved_high + resolved_low) / 2
                    ratio = np.where(everything, 0.0, np.abs(c - centre) / half_width)
                return ratio, half_width

            comparison.params.append(
                ParamComparison(
                    layer, param, c, value, bad, measure, kink, fd.unresolved[layer - 1][k]
                )
            )
    return comparison
