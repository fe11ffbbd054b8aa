"""The harness: any implementation of the contract, checked on random cases, failures shrunk.

``check(implementation)`` draws cases from ``reference.strategies.cases`` with Hypothesis,
runs the three-way ``verify`` on each, and on the first disagreement lets Hypothesis shrink the
case to the smallest one that still fails (smallest depth, widths and batch first, then the
simplest values). The result says where the gradient is wrong and which of the lecture's
formulas that breaks (``reference.diagnose``), and renders as text or as the contract's JSON.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference.compare import lecture_index
from reference.diagnose import Diagnosis, diagnose
from reference.minimize import minimize
from reference.strategies import Case, random_case
from reference.verify import OUT_OF_TIME, ThreeWay, verify

__all__ = ["CheckResult", "UsageError", "check", "load_implementation"]

#: Cases drawn by ``check`` when the caller names no number.
DEFAULT_EXAMPLES = 100
#: Cases drawn in one Hypothesis example.
_CASES_PER_EXAMPLE = 8
#: Seconds one call of the implementation may take by default (a hang becomes a failure).
DEFAULT_TIME_LIMIT = 10.0


class UsageError(Exception):
    """A mistake in what the user asked for; its message is one sentence."""


def load_implementation(target: str) -> Callable:
    """Import ``MODULE:FUNCTION`` (the current directory is importable) and return the function.

    Raises ``UsageError`` with one sentence for every way this can fail.
    """
    module_name, colon, attribute = target.partition(":")
    names = [*module_name.split("."), *attribute.split(".")]
    if not colon or not all(name.isidentifier() for name in names):
        raise UsageError(
            f"expected MODULE:FUNCTION (for example mymodule:gradients), got {target!r}."
        )
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(
                f"no module named {module_name!r} in the current directory or the installed "
                f"packages."
            ) from None
        raise UsageError(f"importing {module_name!r} failed: {exc}.") from None
    except (Exception, SystemExit) as exc:
        raise UsageError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}".rstrip() + "."
        ) from None
    found: Any = module
    for name in attribute.split("."):
        if not hasattr(found, name):
            raise UsageError(f"module {module_name!r} has no attribute {attribute!r}.")
        found = getattr(found, name)
    if not callable(found):
        raise UsageError(f"{target} is a {type(found).__name__}, not a function.")
    return found


@dataclass
class CheckResult:
    """What ``check`` found."""

    implementation: str  # its name, as the user gave it
    examples: int  # cases run until the verdict (the failing one included)
    seed: int
    dtype: np.dtype
    shrink_examples: int = 0  # further cases run to shrink a failure
    case: Case | None = None  # the minimal failing case
    result: ThreeWay | None = None  # the verdict on it
    diagnosis: Diagnosis | None = None
    flaky: bool = False  # the failure did not repeat when the case was run again (not shrunk)
    elapsed: float = 0.0  # seconds
    failed_at: int | None = None  # which case failed first (1-based); None on a pass

    @property
    def ok(self) -> bool:
        return self.case is None

    @property
    def verdict(self) -> str:
        return "pass" if self.ok else "fail"

    def mismatches(self) -> list[dict[str, Any]]:
        """Every wrong (layer, param), against either witness, in lecture numbering."""
        return _mismatches(self.result) if self.result is not None else []

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON: verdict, examples, counterexample (and more)."""
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "examples": self.examples,
            "implementation": self.implementation,
            "seed": self.seed,
            "dtype": str(self.dtype),
            "failed_at": self.failed_at,
            "shrink_examples": self.shrink_examples,
            "elapsed_s": round(self.elapsed, 3),
            "counterexample": None,
        }
        if self.case is None or self.result is None:
            return out
        spec = self.case.spec
        out["counterexample"] = {
            "widths": list(spec.widths),
            "activations": list(spec.activations),
            "loss": spec.loss,
            "n": int(self.case.X.shape[0]),
            "error": self.result.error,
            "mismatches": self.mismatches(),
            "diagnosis": None if self.diagnosis is None else self.diagnosis.as_dict(),
            "flaky": self.flaky,
            "params": [[W.tolist(), b.tolist()] for W, b in self.case.params],
            "X": self.case.X.tolist(),
            "Y": self.case.Y.tolist(),
            "snippet": self.snippet(),
        }
        return out

    def snippet(self) -> str:
        """Ready-to-run Python that rebuilds the counterexample and calls the implementation."""
        if self.case is None:
            return ""
        module, _, function = self.implementation.partition(":")
        lines = [self.case.snippet(), ""]
        if function and module.replace(".", "").isidentifier():
            lines.append(f"from {module} import {function.split('.')[0]}")
            lines.append(f"print({function}(params, X, Y, spec))")
        lines.append("from reference import autodiff_gradients")
        lines.append("print(autodiff_gradients(params, X, Y, spec))  # jax.grad")
        return "\n".join(lines)

    def render(self) -> str:
        """The report for a terminal: verdict, counterexample, diagnosis, table, snippet."""
        head = (
            f"backprop-verify check {self.implementation}: {self.examples} random case"
            f"{'s' if self.examples != 1 else ''}, seed {self.seed}, {self.dtype}"
        )
        if self.ok:
            return f"{head}\nPASS: the implementation agrees with jax.grad and finite differences."
        return "\n".join([head, *_failure_lines(self)])


def _mismatches(result: ThreeWay) -> list[dict[str, Any]]:
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for comparison in (result.vs_autodiff, result.vs_fd):
        if comparison is None:
            continue
        for p in comparison.mismatches:
            key = (p.layer, p.param)
            if key in found:
                found[key]["witnesses"].append(comparison.witness)
                continue
            found[key] = {
                "layer": p.layer,
                "param": p.param,
                "max_abs_error": p.max_abs_error,
                "max_rel_error": p.max_rel_error,
                "entries": len(p.bad_entries),
                "of": int(np.prod(p.shape)) if p.shape else 0,
                "worst_entry": lecture_index(p.param, p.layer, p.worst_entry, p.shape),
                "implementation": p.candidate_value,
                "witness_value": p.witness_value,
                "tolerance": p.tolerance,
                "witnesses": [comparison.witness],
            }
    return [found[key] for key in sorted(found)]


def _fd_cell(result: ThreeWay, layer: int, k: int, entry: tuple[int, ...]) -> str:
    fd = result.fd
    if fd.unresolved[layer - 1][k][entry]:
        return "unjudged"
    if fd.kink[layer - 1][k][entry]:
        low, high = fd.lower[layer - 1][k][entry], fd.upper[layer - 1][k][entry]
        return f"[{low:.6g}, {high:.6g}]"
    return f"{fd.gradients[layer - 1][k][entry]:.10g}"


def table(result: ThreeWay) -> list[str]:
    """Per layer and parameter, the worst entry: implementation, jax.grad, finite differences."""
    rows = [("layer", "param", "entry", "implementation", "jax.grad", "finite diff.", "verdict")]
    wrong = {
        (p.layer, p.param)
        for c in (result.vs_autodiff, result.vs_fd)
        if c is not None
        for p in c.mismatches
    }
    for layer in range(result.spec.depth, 0, -1):
        for k, param in enumerate("Wb"):
            reference = result.reference.grads[layer - 1][k]
            if reference.size == 0:
                continue
            entry: tuple[int, ...] = (0,) * reference.ndim
            candidate = "—"
            if result.candidate is not None:
                values = result.candidate[layer - 1][k]
                with np.errstate(invalid="ignore"):
                    gap = np.abs(values - reference)
                gap = np.where(np.isnan(gap), np.inf, gap)
                entry = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape))
                candidate = f"{values[entry]:.10g}"
            if result.candidate is None:
                verdict = "—"
            else:
                verdict = "WRONG" if (layer, param) in wrong else "ok"
            rows.append(
                (
                    str(layer),
                    param,
                    lecture_index(param, layer, entry, reference.shape),
                    candidate,
                    f"{reference[entry]:.10g}",
                    _fd_cell(result, layer, k, entry),
                    verdict,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]


def _failure_lines(found: CheckResult) -> list[str]:
    assert found.case is not None
    assert found.result is not None
    spec = found.case.spec
    if _out_of_time(found.result):
        heading = f"FAIL at case {found.failed_at} (not shrunk: every try takes the time limit):"
    else:
        heading = (
            f"FAIL at case {found.failed_at}; shrunk in {found.shrink_examples} more cases to "
            f"the smallest case that still fails the same way:"
        )
    lines = [
        heading,
        f"  widths {spec.widths}, activations {spec.activations}, loss {spec.loss!r}, "
        f"n = {found.case.X.shape[0]}",
    ]
    if found.flaky:
        lines.append("  (the failure did not repeat on a second run: the implementation is flaky)")
    if found.result.error is not None:
        lines.append(f"  the implementation {found.result.error}")
    for item in found.mismatches():
        lines.append(
            f"  layer {item['layer']}, {item['param']}: {item['entries']} of {item['of']} entries "
            f"wrong (against {' and '.join(item['witnesses'])}); worst {item['worst_entry']}: "
            f"{item['implementation']:.10g} instead of {item['witness_value']:.10g}"
        )
    if found.diagnosis is not None and found.diagnosis.summary:
        lines.append("Diagnosis:")
        lines += [f"  {line}" for line in found.diagnosis.lines()]
    if not found.result.autodiff_vs_fd.ok:
        lines.append("  (jax.grad and finite differences disagree with each other here)")
    lines.append("Per layer, the entry furthest from jax.grad:")
    lines += [f"  {row}" for row in table(found.result)]
    lines.append("Reproduce it:")
    lines += [f"    {row}" if row else "" for row in found.snippet().splitlines()]
    return lines


def _diagnosis(result: ThreeWay, case: Case) -> Diagnosis | None:
    if result.candidate is None:
        return None
    wrong = [(item["layer"], item["param"]) for item in _mismatches(result)]
    return diagnose(result.candidate, wrong, result.reference, case.params, case.Y, case.spec)


def _out_of_time(result: ThreeWay) -> bool:
    return result.error is not None and result.error.startswith(OUT_OF_TIME)


class _DisagreementError(Exception):
    """Raised inside the property so that Hypothesis shrinks the case."""


def check(
    implementation: Callable,
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    dtype: Any = np.float64,
    strategy: Any = None,
    name: str | None = None,
    observe: Callable[[Case, ThreeWay], None] | None = None,
    keep_going: bool = False,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
) -> CheckResult:
    """Check ``implementation`` on ``examples`` random cases drawn reproducibly from ``seed``.

    Args:
        implementation: a function of the contract, ``gradients(params, X, Y, spec)``.
        examples: how many cases to draw (at least 1).
        seed: the same seed (with the same versions) draws the same cases.
        dtype: float64, or float32 for the float32 mode (its own tolerances).
        strategy: a Hypothesis strategy of ``Case``; by default the cases come from
            ``reference.strategies.random_case`` (``cases()``'s architectures and values, drawn
            by NumPy from one seed per Hypothesis example, far cheaper).
        name: how to call the implementation in the output (``MODULE:FUNCTION``).
        observe: called with each drawn case and its verdict, in order (not with the cases
            tried while shrinking); ``backprop-verify report`` gathers its sweep this way.
        keep_going: run all ``examples`` cases even after a failure (the first failure is the
            one shrunk and reported), unless a case runs out of time; by default the check stops
            at the first failure.
        time_limit: seconds one call of the implementation may take (main thread, POSIX);
            a call still running then is a failure. None or 0: no limit. A case that fails by
            running out of time is reported as drawn, not shrunk: every try would take the
            whole limit.

    Returns:
        ``CheckResult``; on a failure, the shrunk case, the three-way verdict on it and a
        diagnosis. The implementation may raise or return anything: that is a failure, never
        an exception from here.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    if examples < 1:
        raise UsageError(f"--examples must be at least 1, got {examples}.")
    dtype = np.dtype(dtype)
    label = name or getattr(implementation, "__qualname__", repr(implementation))
    state: dict[str, Any] = {
        "runs": 0,
        "case": None,
        "result": None,
        "failed_at": None,
        "stopped": False,
    }
    started = time.perf_counter()

    def run(case: Case) -> ThreeWay:
        return verify(
            implementation,
            case.params,
            case.X,
            case.Y,
            case.spec,
            dtype=dtype,
            time_limit=time_limit,
        )

    # Hypothesis draws the cases, several per example of its own (its per-example bookkeeping
    # costs as much as a small check); the shrinking is ``minimize``'s, which works on the
    # network itself, keeps the kind of failure and the broken formula, and is far cheaper.
    per_example = min(_CASES_PER_EXAMPLE, examples)
    if strategy is None:  # one Hypothesis draw, a seed, for all the example's cases

        def batch_from(draw_seed: int) -> list[Case]:
            rng = np.random.default_rng(draw_seed)
            return [random_case(rng) for _ in range(per_example)]

        drawn = st.integers(0, 2**63 - 1).map(batch_from)
    else:
        drawn = st.lists(strategy, min_size=per_example, max_size=per_example)

    @settings(
        max_examples=-(-examples // per_example),
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        phases=(Phase.explicit, Phase.generate),
    )
    @hypothesis_seed(seed)
    @given(batch=drawn)
    def agrees(batch: list[Case]) -> None:
        for case in batch:
            if state["stopped"]:
                raise _DisagreementError  # Hypothesis replaying the failure: already judged
            if state["runs"] == examples:
                return
            state["runs"] += 1
            result = run(case)
            if observe is not None:
                observe(case, result)
            if result.ok:
                continue
            if state["case"] is None:
                state["case"], state["result"] = case, result
                state["failed_at"] = state["runs"]
            if not keep_going or _out_of_time(result):  # a hang would cost the limit each case
                state["stopped"] = True
                raise _DisagreementError

    with contextlib.suppress(_DisagreementError):
        agrees()
    found = CheckResult(label, state["runs"], seed, dtype, failed_at=state["failed_at"])
    if state["case"] is not None:
        case, result = state["case"], state["result"]
        found.flaky = not _out_of_time(result) and run(case).ok
        first = _diagnosis(result, case)

        def still_fails(smaller: Case) -> bool:
            nonlocal result
            again = run(smaller)
            if again.ok or (again.error is None) != (result.error is None):
                return False
            if first is not None and _diagnosis(again, smaller).formula != first.formula:
                return False
            result = again
            return True

        if not found.flaky and not _out_of_time(result):
            case, found.shrink_examples = minimize(case, still_fails)
        found.case, found.result = case, result
        found.diagnosis = _diagnosis(result, case)
    found.elapsed = time.perf_counter() - started
    return found
