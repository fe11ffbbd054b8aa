"""``backprop-verify report``: the comparison report, as HTML, Markdown and JSON.

One run gathers five things and writes them three ways (``report.html`` self-contained with its
figures embedded, ``report.md`` with the figures beside it in ``figures/``, ``report.json``):

- ``environment``: versions, machine, dtype, seed, number of cases;
- ``lecture_examples``: exercise 2 layer by layer from the three witnesses, exercise 1's answer
  with its reason, checked on several completions of the network;
- ``sweep``: the check harness's random cases (the implementation against ``jax.grad`` and
  finite differences, and ``jax.grad`` against finite differences), their pairwise errors
  broken down by activation, loss and depth, kink entries apart, the worst cases;
- ``finite_difference_steps``: error against step h on one entry, float64 and float32;
- ``timings``: the witnesses' cost as the parameter count grows, with growth exponents;
- ``verdict``: the check's verdict, with the shrunk counterexample and its diagnosis on a failure.

The JSON's layout is documented key by key in docs/report-json.md.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reports.figures import figures
from reports.measure import Subject, environment, fd_steps, lecture, timings, verdict
from reports.render import json_ready, json_text, render
from reports.sweep import PAIRS, case_record, sweep

__all__ = [
    "DEFAULT_OUT",
    "PAIRS",
    "REPORT_EXAMPLES",
    "build",
    "json_ready",
    "json_text",
    "summary_line",
]

REPORT_EXAMPLES = 300
DEFAULT_OUT = "backprop-verify-report"


def summary_line(data: dict[str, Any]) -> str:
    """What passed and what failed, in one line for the command line."""
    verdict = data["verdict"]
    cases = verdict["examples"]
    sweep = (
        f"all {cases} random cases agree"
        if verdict["sweep_agrees"]
        else f"{verdict['failing_cases']} of {cases} random cases fail (the first, case "
        f"{verdict['failed_at']}: {verdict['kind_words']})"
    )
    parts = [sweep]
    ex2, ex1 = (data["lecture_examples"][key] for key in ("exercise_2", "exercise_1"))
    if not ex2["judged"]:
        parts.append("exercise 2 outside its scope")
    elif ex2["agrees"]:
        parts.append("exercise 2 agrees")
    elif "candidate" in ex2["backward"][-1] or ex2["candidate_wrong"]:
        parts.append(
            f"exercise 2: {ex2['candidate_wrong']} of {ex2['candidate_entries']} gradient entries "
            "wrong"
        )
    else:
        parts.append(f"exercise 2: {ex2.get('candidate_problem', 'wrong')}")
    if not ex1["judged"]:
        parts.append("exercise 1 outside its scope")
    else:
        parts.append("exercise 1 agrees" if ex1["agrees"] else "exercise 1 wrong")
    return f"{verdict['verdict'].upper()}: {verdict['implementation']}: " + "; ".join(parts) + "."


def build(
    out: str | os.PathLike[str] = DEFAULT_OUT,
    *,
    examples: int = REPORT_EXAMPLES,
    seed: int = 0,
    implementation: Callable | None = None,
    name: str | None = None,
    progress: bool = True,
    options: dict[str, Any] | None = None,
    timing: bool = True,
) -> dict[str, Any]:
    """Measure everything and write ``report.html``, ``report.md`` (+ ``figures/``) and
    ``report.json`` into ``out``; returns the JSON's content.

    ``implementation`` (default ``manual.gradients``) is the subject of the whole report: the
    sweep, the verdict and the lecture's exercises, beside the three witnesses. ``options``: the
    scope and conventions of ``reference.harness.check``. ``timing``: time the witnesses.
    """
    import manual

    if implementation is None:
        implementation, name = manual.gradients, name or "manual:gradients"
    name = name or getattr(implementation, "__qualname__", "implementation")
    chosen = dict(options or {})
    subject = Subject(implementation, name, chosen)
    directory = Path(out)
    (directory / "figures").mkdir(parents=True, exist_ok=True)
    with _Phases(examples + 5 + (5 if timing else 0), progress) as phases:
        exercises = phases.timed("lecture_examples", lambda: lecture(subject))
        found, records = phases.timed(
            "sweep", lambda: _swept(subject, examples, seed, chosen, phases.tick)
        )
        phases.tick(examples - len(records))
        steps = phases.timed("finite_difference_steps", fd_steps)
        swept = sweep(records)
        data: dict[str, Any] = {
            "environment": environment(name, found.examples, seed, chosen),
            "verdict": verdict(found, subject, exercises, swept, seed),
            "lecture_examples": exercises,
            "sweep": swept,
            "finite_difference_steps": steps,
        }
        if timing:
            data["timings"] = phases.timed("timings", lambda: timings(phases.tick), tick=False)
        drawn = phases.timed("figures", lambda: figures(data))
        data["phases"] = phases.seconds()
        _write(directory, data, drawn)
        phases.tick()
    return data


class _Phases:
    """The report's progress bar (on a terminal only) and the seconds each phase took."""

    def __init__(self, steps: int, progress: bool) -> None:
        from tqdm import tqdm

        self.started = time.perf_counter()
        self.spent: dict[str, float] = {}
        self.bar = tqdm(
            total=steps,
            desc="backprop-verify report",
            unit="step",
            disable=None if progress else True,  # None: only on a terminal, not in logs
            file=sys.stderr,
            leave=False,
        )

    def __enter__(self) -> _Phases:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def tick(self, steps: int = 1) -> None:
        self.bar.update(steps)

    def timed(self, phase: str, work: Callable[[], Any], tick: bool = True) -> Any:
        self.bar.set_postfix_str(phase.replace("_", " "))
        clock = time.perf_counter()
        value = work()
        self.spent[f"{phase}_s"] = time.perf_counter() - clock
        if tick:
            self.tick()
        return value

    def seconds(self) -> dict[str, float]:
        return {**self.spent, "total_s": time.perf_counter() - self.started}


def _swept(
    subject: Subject, examples: int, seed: int, chosen: dict[str, Any], tick: Callable
) -> tuple[Any, list[dict[str, Any]]]:
    """``check``'s verdict on the random cases, and a record of every case it ran."""
    from reference.harness import check

    observed: list[tuple[Any, Any]] = []

    def observe(case: Any, result: Any) -> None:
        observed.append((case, result))
        tick()

    found = check(
        subject.implementation,
        examples=examples,
        seed=seed,
        name=subject.name,
        observe=observe,
        keep_going=True,
        **chosen,
    )
    numbered = enumerate(zip(observed, found.draws, strict=True), start=1)
    return found, [
        case_record(i, draw, case, result, subject, seed) for i, ((case, result), draw) in numbered
    ]


def _write(directory: Path, data: dict[str, Any], drawn: dict[str, bytes]) -> None:
    for figure_name, png in drawn.items():
        (directory / "figures" / f"{figure_name}.png").write_bytes(png)
    (directory / "report.json").write_text(json_text(data), encoding="utf-8")
    (directory / "report.md").write_text(render(data, drawn, "md"), encoding="utf-8")
    (directory / "report.html").write_text(render(data, drawn, "html"), encoding="utf-8")
