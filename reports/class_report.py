"""What ``backprop-verify grade`` writes: Gradescope's ``results.json`` per submission,
``grades.csv`` and the class report ``class.html``."""

from __future__ import annotations

import base64
import collections
import csv
import json
from pathlib import Path
from typing import Any

from reports.grade import Graded

__all__ = ["common_mistakes", "results_json", "write_outputs"]


def results_json(graded: Graded) -> dict[str, Any]:
    """Gradescope's results.json: the score, a test per rubric item, and what went wrong."""
    tests = []
    for item in graded.items:
        passed = graded.passed.get(item.key, False)
        output = graded.outputs.get(item.key) or f"Not graded: {graded.reason}"
        tests.append(
            {
                "name": f"{item.key}: {item.title}",
                "score": item.points if passed else 0.0,
                "max_score": item.points,
                "status": "passed" if passed else "failed",
                "output": output,
            }
        )
    summary = f"{graded.score:g} of {graded.max_score:g} points."
    if graded.reason:
        summary += f" Not graded: {graded.reason}"
    if graded.output:
        summary += f"\n\nThe submission's own output (cut short):\n{graded.output}"
    return {
        "score": graded.score,
        "max_score": graded.max_score,
        "output": summary,
        "tests": tests,
    }


def common_mistakes(class_: list[Graded]) -> list[dict[str, Any]]:
    """The mistakes of the class, most common first: (item, mistake in words, submissions)."""
    counts: collections.Counter = collections.Counter()
    who: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for graded in class_:
        keys = [
            (item.key, graded.mistakes.get(item.key) or graded.reason or "failed")
            for item in graded.items
            if not graded.passed.get(item.key, False)
        ]
        if graded.reason or (
            len(keys) == len(graded.items) > 1 and len({m for _, m in keys}) == 1
        ):  # not graded, or every item lost to one cause: one mistake, not one per item
            keys = [("every item", graded.reason or keys[0][1])]
        for key in keys:
            counts[key] += 1
            who[key].append(graded.submission.name)
    return [
        {"item": item, "mistake": mistake, "count": count, "submissions": who[(item, mistake)]}
        for (item, mistake), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def write_outputs(class_: list[Graded], out: Path, seed: int) -> None:
    """results.json for each submission, grades.csv and class.html, under ``out``."""
    from reports.figures import score_histogram
    from reports.render import templates

    for graded in class_:
        folder = out / graded.submission.name
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(results_json(graded), indent=2, ensure_ascii=False)
        (folder / "results.json").write_text(text + "\n", encoding="utf-8")
    items = class_[0].items if class_ else []
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["submission", *(item.key for item in items), "total"])
        for graded in class_:
            points = [f"{item.points if graded.passed.get(item.key) else 0:g}" for item in items]
            writer.writerow([graded.submission.name, *points, f"{graded.score:g}"])
    max_score = sum(item.points for item in items)
    figure = score_histogram([g.score for g in class_], max_score)
    html = (
        templates()
        .get_template("class.html.j2")
        .render(
            class_=class_,
            items=items,
            max_score=max_score,
            mistakes=common_mistakes(class_),
            histogram=base64.b64encode(figure).decode("ascii"),
            seed=seed,
            size=len(class_),
        )
    )
    (out / "class.html").write_text(html, encoding="utf-8")
