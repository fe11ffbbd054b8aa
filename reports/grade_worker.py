"""One submission graded in a process of its own: ``python -m reports.grade_worker JOB``.

``JOB`` is a JSON file written by ``reports.isolate``: the submission's file, the function's
name, the rubric, the seed, the options and where to write the result. The submission may do
anything, raise, exit or print; the result file is written only when the grading finishes, and
the grader reads its absence as the reason to give.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
import traceback
from typing import Any


def _load(path: str, function: str) -> Any:
    """The submission's function; raises ``LookupError`` with one sentence where it has none."""
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # its own helper modules beside it
    spec = importlib.util.spec_from_file_location("submission", path)
    if spec is None or spec.loader is None:
        raise LookupError(f"{os.path.basename(path)} cannot be imported as a module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    found = getattr(module, function, None)
    if not callable(found):
        raise LookupError(f"{os.path.basename(path)} defines no function {function!r}.")
    return found


def _grade(job: dict[str, Any]) -> dict[str, Any]:
    from reference.rubric import Item, grade

    try:
        implementation = _load(job["file"], job["function"])
    except LookupError as exc:
        return {"error": str(exc)}
    except BaseException as exc:  # whatever importing it did, SystemExit included
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"error": f"importing the submission failed: {last}"}
    items = [Item(**item) for item in job["items"]]
    fresh = functools.partial(_load, job["file"], job["function"])
    name = f"{os.path.splitext(os.path.basename(job['file']))[0]}:{job['function']}"
    options = job["options"]
    results = grade(implementation, items, seed=job["seed"], fresh=fresh, name=name, **options)
    return {
        "items": [
            {"key": r.item.key, "passed": r.passed, "output": r.output, "mistake": r.mistake}
            for r in results
        ]
    }


def main(job_path: str) -> None:
    with open(job_path) as stream:
        job = json.load(stream)
    from reports.isolate import apply_limits

    apply_limits(*job["limits"])  # before the submission, or anything it could outgrow
    from reports.cache import use_compilation_cache

    # no jax.grad results read back: the submission runs in this process, and an entry it
    # wrote would stand in for the witness when another submission is graded
    use_compilation_cache(keep_results=False)
    result = _grade(job)
    partial = job["result"] + ".partial"
    with open(partial, "w") as stream:
        json.dump(result, stream)
    os.replace(partial, job["result"])
    # the submission's threads or handlers must not keep the process alive
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
