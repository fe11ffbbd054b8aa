"""``backprop-verify grade``: a class of submissions graded against a rubric in lecture terms,
each in a worker process of its own (``reports.isolate``), spread over ``--jobs`` at once."""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference.rubric import Item
from reference.scope import UsageError
from reports.isolate import Limits, run_isolated

__all__ = ["DEFAULT_GRADES_OUT", "Graded", "Submission", "collect", "grade_class"]

DEFAULT_GRADES_OUT = "backprop-verify-grades"
#: Seconds (wall clock and CPU) and megabytes of data memory one submission may use by default.
DEFAULT_SECONDS, DEFAULT_MEGABYTES = 300.0, 2048
DEFAULT_LIMITS = Limits(DEFAULT_SECONDS, DEFAULT_MEGABYTES)
#: Seconds one call of a submission may take: the time limit of every check inside the grading.
CALL_SECONDS = 10.0


@dataclass(frozen=True)
class Submission:
    name: str  # its name in the outputs: the file's stem, or the directory's name
    file: str | None  # the .py file graded; None where there is none to grade
    problem: str | None = None  # why there is none


@dataclass
class Graded:
    """One submission's grades."""

    submission: Submission
    items: list[Item]
    passed: dict[str, bool] = field(default_factory=dict)  # item key -> passed
    outputs: dict[str, str] = field(default_factory=dict)  # item key -> what was checked, found
    mistakes: dict[str, str] = field(default_factory=dict)  # item key -> the mistake, short
    reason: str | None = None  # why it could not be graded (then every item is 0)
    output: str = ""  # the submission's own output, cut short

    @property
    def score(self) -> float:
        return sum(item.points for item in self.items if self.passed.get(item.key))

    @property
    def max_score(self) -> float:
        return sum(item.points for item in self.items)


def _source(folder: Path, function: str) -> tuple[str | None, str | None]:
    """The .py file of a submission's folder that defines ``function`` (or its only .py file)."""
    files = sorted(p for p in folder.rglob("*.py") if not p.name.startswith("test_"))
    defining = [p for p in files if f"def {function}(" in p.read_text(errors="replace")]
    chosen = defining if defining else files
    if len(chosen) == 1:
        return os.fspath(chosen[0]), None
    if not chosen:
        return None, f"the folder {folder.name} holds no .py file."
    names = ", ".join(p.name for p in chosen)
    return None, f"the folder {folder.name} holds several files defining {function}: {names}."


def collect(paths: list[str], function: str) -> list[Submission]:
    """The submissions named on the command line, in order, with unique names; ``UsageError``
    for a path that does not exist or is neither a .py file nor a folder."""
    found: list[Submission] = []
    names: set[str] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            file, problem = _source(path, function)
            name = path.resolve().name
        elif path.is_file() and path.suffix == ".py":
            file, problem, name = os.fspath(path), None, path.stem
        elif path.exists():
            raise UsageError(f"{given!r} is neither a .py file nor a folder holding one.")
        else:
            raise UsageError(f"no submission at {given!r}.")
        unique, k = name, 2
        while unique in names:
            unique, k = f"{name}-{k}", k + 1
        names.add(unique)
        found.append(Submission(unique, None if file is None else os.path.abspath(file), problem))
    return found


def _grade_one(
    submission: Submission,
    items: list[Item],
    function: str,
    seed: int,
    options: dict[str, Any],
    limits: Limits,
) -> Graded:
    graded = Graded(submission, items)
    if submission.file is None:
        graded.reason = submission.problem
        return graded
    job = {
        "file": submission.file,
        "function": function,
        "seed": seed,
        "options": {**options, "time_limit": min(CALL_SECONDS, limits.seconds / 4)},
        "items": [{"key": i.key, "title": i.title, "points": i.points} for i in items],
    }
    isolated = run_isolated(job, limits)
    graded.output = isolated.output
    result = isolated.result
    if result is None or "error" in result:
        graded.reason = isolated.reason if result is None else result["error"]
        return graded
    for entry in result["items"]:
        graded.passed[entry["key"]] = entry["passed"]
        graded.outputs[entry["key"]] = entry["output"]
        if entry["mistake"]:
            graded.mistakes[entry["key"]] = entry["mistake"]
    return graded


def grade_class(
    submissions: list[Submission],
    items: list[Item],
    *,
    function: str = "gradients",
    seed: int = 0,
    options: dict[str, Any] | None = None,
    jobs: int = 1,
    limits: Limits = DEFAULT_LIMITS,
    done: Callable[[Graded], None] | None = None,
) -> list[Graded]:
    """Every submission graded, ``jobs`` at a time, in the order given; ``done`` hears of each
    as it finishes."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [
            pool.submit(_grade_one, s, items, function, seed, dict(options or {}), limits)
            for s in submissions
        ]
        if done is not None:
            for future in concurrent.futures.as_completed(futures):
                done(future.result())
        return [future.result() for future in futures]
