"""A submission graded in a worker process of its own, with limits: CPU time and data memory
(``resource.setrlimit``, POSIX), a wall clock, a scratch working directory, and its output
captured and cut short. Whatever the submission does, the grader gets an ``Isolated`` back.

File-system and network isolation are the container's job (as on Gradescope), not this one's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Isolated", "Limits", "apply_limits", "run_isolated"]

#: The most bytes of a submission's own output kept (its head and its tail), and the largest
#: file it may write (its output included): past it, SIGXFSZ ends the grading.
OUTPUT_KEPT, OUTPUT_FILE = 4000, 64 * 2**20


@dataclass(frozen=True)
class Limits:
    seconds: float  # wall clock, and CPU time, of the whole grading
    megabytes: int  # data memory (heap and private mappings)


@dataclass
class Isolated:
    """What came back from a submission's worker process."""

    result: dict[str, Any] | None  # the worker's result; None where it never wrote one
    reason: str | None  # why there is no result, in one sentence
    output: str  # the submission's own output (stdout and stderr), cut short
    seconds: float


def apply_limits(seconds: float, megabytes: int) -> None:
    """Limit this process (the worker calls it first, before it imports the submission): CPU
    time, data memory, and the size of any file it writes; what runs after this cannot raise
    them past their hard limits."""
    import resource

    cpu = max(1, int(seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    data = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_FILE, OUTPUT_FILE))


def _read(path: str) -> str:
    """The submission's output, its head and its tail where it is longer than ``OUTPUT_KEPT``."""
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        if size <= OUTPUT_KEPT:
            return stream.read().decode("utf-8", errors="replace")
        head = stream.read(OUTPUT_KEPT // 2).decode("utf-8", errors="replace")
        stream.seek(size - OUTPUT_KEPT // 2)
        tail = stream.read().decode("utf-8", errors="replace")
    return f"{head}\n[... {size - OUTPUT_KEPT} bytes left out ...]\n{tail}"


def _why(status: int, limits: Limits, timed_out: bool) -> str:
    if timed_out:
        return f"the grading ran past the time limit of {limits.seconds:g} s and was stopped."
    if status < 0:
        name = signal.Signals(-status).name
        if -status == signal.SIGXCPU:
            return f"the submission used more than {limits.seconds:g} s of CPU time ({name})."
        if -status == signal.SIGXFSZ:
            return f"the submission wrote more than {OUTPUT_FILE >> 20} MB ({name})."
        return f"the grading process was killed by {name} (memory limit {limits.megabytes} MB?)."
    return f"the submission ended the grading process (exit status {status}) before it finished."


def run_isolated(job: dict[str, Any], limits: Limits) -> Isolated:
    """Grade ``job`` (see ``reports.grade_worker``) in a fresh process inside ``limits``."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="backprop-verify-grade-") as scratch:
        job = {
            **job,
            "result": os.path.join(scratch, "result.json"),
            "limits": [limits.seconds, limits.megabytes],
        }
        job_path = os.path.join(scratch, "job.json")
        with open(job_path, "w") as stream:
            json.dump(job, stream)
        output_path = os.path.join(scratch, "output.txt")
        work = os.path.join(scratch, "work")
        os.mkdir(work)
        env = {
            # small arrays: one BLAS thread each, so that --jobs processes share the cores
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "PYTHONUNBUFFERED": "1",
        }
        with open(output_path, "wb") as output, open(os.devnull, "rb") as nothing:
            process = subprocess.Popen(
                [sys.executable, "-m", "reports.grade_worker", job_path],
                cwd=work,
                env=env,
                stdin=nothing,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole
            )
            timed_out = False
            try:
                status = process.wait(timeout=limits.seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                with contextlib.suppress(ProcessLookupError):  # the whole group, whatever is left
                    os.killpg(process.pid, signal.SIGKILL)
                status = process.wait()
        captured = _read(output_path)
        result = None
        if os.path.exists(job["result"]):
            with open(job["result"]) as stream:
                result = json.load(stream)
    seconds = time.perf_counter() - started
    reason = None if result is not None else _why(status, limits, timed_out)
    return Isolated(result, reason, captured, seconds)
