"""Running a check's numbered cases: one after another, or spread over worker processes with
the same verdict.

Both stop where the serial run stops: at the first failure in the order drawn (unless asked to
go on), once ``examples`` cases are judged, or after too many declined cases. The parallel run
judges cases in batches on ``jobs`` processes, reads the batches back in the order drawn and
replays that rule on them, so that its tally (the cases judged, the declined ones, the first
failure and its verdict) is the serial run's. Work past the stopping point is thrown away.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import multiprocessing
import pickle
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import reference.witness_cache as witness_cache
from reference.minimize import moderated
from reference.scope import Conventions, Scope, UsageError
from reference.spec import Spec
from reference.strategies import Case
from reference.verify import ThreeWay, verify

__all__ = ["Plan", "Tally", "run_cases", "run_cases_parallel"]

#: Cases the implementation may decline (NotImplementedError) per case asked for, and at least.
SKIPS_PER_CASE, SKIPS_AT_LEAST = 10, 200
#: Cases a worker judges per batch, and batches queued per worker: enough to keep a worker busy
#: between two reads, few enough that little is judged past a failure.
BATCH, QUEUED = 16, 2
#: JAX settings a worker takes from the process that starts it (the compilation cache above all).
_JAX_SETTINGS = (
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)


@dataclass(frozen=True)
class Plan:
    """How every case of a check is judged: what a worker process needs to judge one."""

    implementation: Callable  # as the user wrote it, before its conventions are applied
    scope: Scope
    conventions: Conventions
    dtype: np.dtype
    time_limit: float | None
    precision: str

    def runner(self) -> Callable[[Case], ThreeWay]:
        """The three-way verdict on one case, the implementation called in its conventions."""
        return functools.partial(
            _verify_case,
            self.conventions.wrap(self.implementation),
            dtype=self.dtype,
            time_limit=self.time_limit,
            precision=self.precision,
            other_inputs=_other_inputs(self.scope),
        )


def _other_inputs(scope: Scope) -> Callable | None:
    """The inputs of the call between two repeated calls (``verify``'s ``other_inputs``),
    inside ``scope``: the default ones, made moderate where the scope asks for it."""
    if scope.values != "moderate":
        return None
    return _moderate_other


def _moderate_other(params: list, X: np.ndarray, spec: Spec) -> tuple[list, np.ndarray]:
    moved = [(2 * W, 2 * b + 1) for W, b in params]
    case = moderated(Case(spec, moved, 2 * X + 1, np.zeros((len(X), spec.widths[-1]))))
    return case.params, case.X


def _verify_case(implementation: Callable, case: Case, **options: Any) -> ThreeWay:
    return verify(implementation, case.params, case.X, case.Y, case.spec, **options)


@dataclass
class Tally:
    """What running the drawn cases found."""

    examples: int  # cases wanted
    keep_going: bool = False
    runs: int = 0  # cases judged
    skipped: int = 0  # cases the implementation declined
    draws: list[int] = field(default_factory=list)  # the number of each case judged
    first: tuple[int, Case, ThreeWay] | None = None  # the first failure: (run, case, verdict)
    done: bool = False

    def add(self, number: int, case: Case, result: ThreeWay) -> None:
        """Count one case's verdict, in the order drawn; ``done`` once the run would stop."""
        if result.unsupported:
            self.skipped += 1
            self.done = self.skipped >= max(SKIPS_AT_LEAST, SKIPS_PER_CASE * self.examples)
            return
        self.runs += 1
        self.draws.append(number)
        if not result.ok:
            self.first = self.first or (self.runs, case, result)
            # a hang costs the whole limit each case: a timeout stops even with keep_going
            self.done = not self.keep_going or result.kind == "timeout"
        self.done = self.done or self.runs == self.examples

    def finish(self) -> Tally:
        """The tally, or ``UsageError`` where no case was judged."""
        if self.runs == 0 and self.skipped:
            raise UsageError(
                f"the implementation declined all {self.skipped} cases drawn "
                f"(NotImplementedError); narrow the scope to what it supports (--activations, "
                f"--output-activations, --losses, --depth, --width, --batch, ...)."
            )
        if self.runs == 0:
            raise UsageError("the strategy drew no case inside the scope.")
        return self


def run_cases(
    drawn: Iterator[tuple[int, Case]],
    run: Callable[[Case], ThreeWay],
    examples: int,
    observe: Callable[[Case, ThreeWay], None] | None = None,
    keep_going: bool = False,
) -> Tally:
    """Judge the drawn cases in order until the run stops (see ``Tally.add``); ``observe`` sees
    every judged case and its verdict."""
    tally = Tally(examples, keep_going)
    for number, case in drawn:
        result = run(case)
        tally.add(number, case, result)
        if observe is not None and not result.unsupported:
            observe(case, result)
        if tally.done:
            break
    return tally.finish()


# --- on worker processes ---------------------------------------------------------------------

_worker_run: Callable[[Case], ThreeWay] | None = None


def _start_worker(plan: Plan, settings: dict[str, Any], kept: Any) -> None:
    global _worker_run
    if settings:
        import jax

        for name, value in settings.items():
            jax.config.update(name, value)
    witness_cache.use(kept)
    _worker_run = plan.runner()


def _judge_batch(batch: list[tuple[int, Case]]) -> list[tuple[int, ThreeWay | None, bool]]:
    """Each case's (number, verdict if it failed, declined), up to the batch's first failure."""
    assert _worker_run is not None
    judged = []
    for number, case in batch:
        result = _worker_run(case)
        judged.append((number, None if result.ok else result, result.unsupported))
        if not result.ok and not result.unsupported:
            break
    return judged


def _batches(drawn: Iterator[tuple[int, Case]]) -> Iterator[list[tuple[int, Case]]]:
    while batch := [item for _, item in zip(range(BATCH), drawn, strict=False)]:
        yield batch


def _settings() -> dict[str, Any]:
    """The JAX settings set in this process; none where JAX is not imported (the command line
    then sets them in the environment, which the workers inherit)."""
    jax = sys.modules.get("jax")
    return {} if jax is None else {name: getattr(jax.config, name) for name in _JAX_SETTINGS}


def run_cases_parallel(
    drawn: Iterator[tuple[int, Case]], plan: Plan, examples: int, jobs: int
) -> Tally:
    """``run_cases`` on ``jobs`` worker processes: the same tally as the serial run."""
    try:
        pickle.dumps(plan.implementation)
    except Exception as exc:
        raise UsageError(
            f"--jobs needs an implementation that other processes can import by name (a "
            f"function at the top of a module, not a lambda or a local function): {exc}."
        ) from None
    tally = Tally(examples)
    context = multiprocessing.get_context("spawn")  # JAX's threads do not survive a fork
    start = (plan, _settings(), witness_cache.directory())
    pool = concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=start
    )
    pending: collections.deque = collections.deque()
    batches = _batches(drawn)
    try:
        while not tally.done:
            while len(pending) < jobs * QUEUED and (batch := next(batches, None)) is not None:
                pending.append((dict(batch), pool.submit(_judge_batch, batch)))
            if not pending:
                break
            cases, future = pending.popleft()
            for number, failed, declined in future.result():
                case = cases[number]
                tally.add(number, case, _DECLINED if declined else failed or _AGREED)
                if tally.done:
                    break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return tally.finish()


@dataclass(frozen=True)
class _Outcome:
    """A verdict's outcome alone, for a case a worker judged (agreed, or declined)."""

    ok: bool
    unsupported: bool


_AGREED, _DECLINED = _Outcome(ok=True, unsupported=False), _Outcome(ok=True, unsupported=True)
