"""The harness: any implementation of the contract, checked on random cases, failures shrunk.

``check(implementation)`` draws cases reproducibly from a seed (``random_case`` with NumPy, or a
Hypothesis strategy of the caller's), runs the three-way ``verify`` on each, and shrinks the
first failure to the smallest case that still fails the same way (``reference.minimize``). The
result says what kind of failure it is, where the gradient is wrong and which of the lecture's
formulas that breaks (``reference.diagnose``), and renders as text or as the contract's JSON.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.account import error_text, mismatches, render, snippet
from reference.diagnose import Diagnosis, diagnose
from reference.draws import case_stream, numbered_cases
from reference.minimize import minimize, moderated
from reference.non_finite import explain_non_finite
from reference.running import Plan, run_cases, run_cases_parallel
from reference.scope import Conventions, Scope, UsageError, options
from reference.strategies import Case
from reference.verify import ThreeWay

__all__ = ["CheckResult", "UsageError", "case_stream", "check", "load_implementation"]

#: Cases drawn by ``check`` when the caller names no number.
DEFAULT_EXAMPLES = 100
#: Seconds one call of the implementation may take by default (a hang becomes a failure).
DEFAULT_TIME_LIMIT = 10.0


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
    elapsed: float = 0.0  # seconds
    failed_at: int | None = None  # which case failed first (1-based); None on a pass
    precision: str = "standard"
    skipped: int = 0  # cases the implementation declined (NotImplementedError)
    scope: Scope = field(default_factory=Scope)
    conventions: Conventions = field(default_factory=Conventions)
    draws: list[int] = field(default_factory=list)  # each case run: its number in the draw
    drawn: ThreeWay | None = None  # the verdict on the first failing case as drawn (unshrunk)

    @property
    def ok(self) -> bool:
        return self.case is None

    @property
    def verdict(self) -> str:
        return "pass" if self.ok else "fail"

    @property
    def kind(self) -> str | None:
        """The kind of failure (``reference.verify.KINDS``), None on a pass."""
        return None if self.result is None else self.result.kind

    def mismatches(self) -> list[dict[str, Any]]:
        """Every wrong (layer, param), against either witness, in lecture numbering."""
        if self.result is None or self.kind not in ("wrong_values", "non_finite"):
            return []
        return mismatches(self.result)

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON: verdict, examples, counterexample (and more)."""
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "examples": self.examples,
            "implementation": self.implementation,
            "seed": self.seed,
            "dtype": str(self.dtype),
            "precision": self.precision,
            "failed_at": self.failed_at,
            "shrink_examples": self.shrink_examples,
            "skipped": self.skipped,
            "scope": self.scope.as_dict(),
            "conventions": self.conventions.as_dict(),
            "elapsed_s": round(self.elapsed, 3),
            "counterexample": None,
        }
        if self.case is None or self.result is None:
            return out
        spec = self.case.spec
        out["counterexample"] = {
            "kind": self.kind,
            "widths": list(spec.widths),
            "activations": list(spec.activations),
            "loss": spec.loss,
            "n": int(self.case.X.shape[0]),
            "error": error_text(self.result),
            "mismatches": self.mismatches(),
            "non_finite": [
                {"layer": e.layer, "param": e.param, "entry": e.name, "value": e.value}
                for e in self.result.non_finite
            ],
            "diagnosis": None if self.diagnosis is None else self.diagnosis.as_dict(),
            "params": [[W.tolist(), b.tolist()] for W, b in self.case.params],
            "X": self.case.X.tolist(),
            "Y": self.case.Y.tolist(),
            "snippet": self.snippet(),
        }
        return out

    def snippet(self) -> str:
        """Ready-to-run Python that rebuilds the counterexample and shows the failure."""
        return snippet(self)

    def render(self) -> str:
        """The report for a terminal: verdict, counterexample, diagnosis, table, snippet."""
        return render(self)


def _shrink_key(result: ThreeWay) -> tuple:
    """What a smaller case must keep to fail "the same way": the kind, the exception's type,
    and for wrong values the formula the location points to."""
    if result.kind == "raised":
        return (result.kind, (result.error or "").split(":")[0])
    if result.kind == "wrong_values":
        return (result.kind, _location(result))
    return (result.kind,)


def _location(result: ThreeWay) -> tuple[str | None, bool]:
    """The formula the wrong places point to, and whether the highest wrong layer sees only
    zero inputs (where ∂R/∂W is 0 whatever the formula, and the location says less)."""
    wrong = [(item["layer"], item["param"]) for item in mismatches(result)]
    diagnosis = diagnose(result, wrong, quick=True)
    top = diagnosis.layer or 1
    # a constant factor is a wrong start of the backward pass that happens to be uniform: a
    # smaller case of the same mistake may lose the uniformity (at a kink, say)
    formula = "output" if diagnosis.formula == "factor" else diagnosis.formula
    return formula, not np.any(result.reference.A[top - 1])


def _diagnosis(
    case: Case, result: ThreeWay, seen: list[ThreeWay], run: Callable[[Case], ThreeWay]
) -> Diagnosis | None:
    """The diagnosis of the final case; ``seen`` holds the verdicts of other failing cases of
    the same run (the case as drawn), whose numbers a named cause must explain too. A
    non-finite result is checked again on the same network with moderate values."""
    if result.kind == "non_finite":
        return explain_non_finite(result, run(moderated(case)))
    if result.kind != "wrong_values":
        return None
    wrong = [(item["layer"], item["param"]) for item in mismatches(result)]
    return diagnose(result, wrong, also=seen)


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
    precision: str = "standard",
    case: int | None = None,
    jobs: int = 1,
    **scope_and_conventions: Any,
) -> CheckResult:
    """Check ``implementation`` on ``examples`` distinct random cases drawn from ``seed``.

    Args:
        implementation: a function of the contract, ``gradients(params, X, Y, spec)``.
        examples: how many cases to draw (at least 1).
        seed: fixes the whole sequence of cases (``case_stream``), the same in the command
            line, the pytest plugin and here, whatever modules are loaded.
        dtype: float64, or float32 for the float32 mode (its own tolerances).
        strategy: a Hypothesis strategy of ``Case`` to draw from instead (repeats skipped).
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
        precision: the numerical standard, ``"standard"`` or ``"strict"`` (see
            ``reference.compare``).
        case: check only the case numbered ``case`` (1-based) in the draw from ``seed``, as
            ``CheckResult.draws`` numbers them: one case of a run, alone (``examples`` is
            then 1).
        jobs: worker processes that judge the cases (spawned, each importing the
            implementation by name); the verdict, the cases judged and the counterexample are
            the serial run's, the first failure in the order drawn being the one shrunk. With
            ``observe`` or ``keep_going`` the cases run here, one after another.
        scope_and_conventions: the options of ``../CONTRACT.md`` section 5, by their names
            with underscores (``reference.scope.OPTION_KEYS``): the scope (``activations``,
            ``output_activations``, ``losses`` as lists or comma-separated names; ``depth``,
            ``width``, ``inputs``, ``outputs``, ``batch`` as a number, ``"A-B"`` or a pair;
            ``values``, ``targets``) bounds every case the implementation is given, shrinking
            included; the conventions (``layout``, ``examples_as``, ``bias``, ``params``,
            ``labels``, ``reduction``, ``loss_scale``) say how it takes its arguments and
            returns its gradient. A case it declines with ``NotImplementedError`` is skipped
            and counted (``CheckResult.skipped``); if it declines every case drawn,
            ``UsageError``.

    Returns:
        ``CheckResult``; on a failure, its kind, the shrunk case, the three-way verdict on it
        and a diagnosis. The implementation may raise or return anything: that is a failure,
        never an exception from here.
    """
    if examples < 1:
        raise UsageError(f"--examples must be at least 1, got {examples}.")
    if case is not None and (case < 1 or strategy is not None):
        raise UsageError(f"--case must be at least 1 and draw from the seed, got {case}.")
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}.")
    started = time.perf_counter()
    scope, conventions = options(**scope_and_conventions)
    dtype = np.dtype(dtype)
    plan = Plan(implementation, scope, conventions, dtype, time_limit, precision)
    run = plan.runner()
    drawn = numbered_cases(scope, seed, strategy, examples, case)
    wanted = 1 if case is not None else examples
    if jobs > 1 and case is None and observe is None and not keep_going:
        tally = run_cases_parallel(drawn, plan, wanted, jobs)
    else:
        tally = run_cases(drawn, run, wanted, observe, keep_going)
    found = CheckResult(
        name or getattr(implementation, "__qualname__", repr(implementation)),
        tally.runs,
        seed,
        dtype,
        precision=precision,
        skipped=tally.skipped,
        scope=scope,
        conventions=conventions,
        draws=tally.draws,
    )
    if tally.first is not None:
        found.failed_at, drawn_case, result = tally.first
        found.failed_at = case if case is not None else found.failed_at  # its number in the draw
        found.drawn = result
        found.case, found.result, found.shrink_examples = _shrunk(drawn_case, result, run, scope)
        found.diagnosis = _diagnosis(found.case, found.result, [result], run)
    found.elapsed = time.perf_counter() - started
    return found


def _shrunk(
    case: Case, result: ThreeWay, run: Callable[[Case], ThreeWay], scope: Scope
) -> tuple[Case, ThreeWay, int]:
    """The smallest case that fails the way ``result`` does, its verdict, the cases tried."""
    if result.kind == "timeout":
        return case, result, 0
    key = _shrink_key(result)
    last = [result]

    def still_fails(smaller: Case) -> bool:
        again = run(smaller)
        if again.ok or _shrink_key(again) != key:
            return False
        last[0] = again
        return True

    case, tried = minimize(case, still_fails, admits=None if scope.everything else scope.admits)
    return case, last[0], tried
