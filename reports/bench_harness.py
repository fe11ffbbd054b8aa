"""The harness's speed where users run it: the marginal rate of ``check`` on one process and on
several, from a cold start with and without the caches, and (on a machine whose
JAX default is an accelerator) with the small work on the CPU and on the accelerator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from reports.bench_timing import seconds
from reports.cache import CACHE_VARIABLE, JAX_VARIABLES

__all__ = ["cold_starts", "marginal_rate", "throughput"]


def marginal_rate(few: int, many: int, **options) -> tuple[float, float, float]:
    """Seconds of ``check manual:gradients`` on ``few`` and on ``many`` cases (seed 1, the same
    options), and the rate of the cases in between: the cost of a case, start-up left out."""
    import manual
    import reference.witness_cache as witness_cache
    from reference.harness import check

    kept = witness_cache.directory()
    witness_cache.use(None)  # every jax.grad pass computed: the cost of a case, not of a read
    try:
        t_few = seconds(lambda: check(manual.gradients, examples=few, seed=1, **options))
        t_many = seconds(lambda: check(manual.gradients, examples=many, seed=1, **options))
    finally:
        witness_cache.use(kept)
    return t_few, t_many, (many - few) / max(t_many - t_few, 1e-9)


def throughput(quick: bool, say: Callable[[str], None]) -> None:
    """The marginal rate serially and with ``--jobs``, side by side."""
    import manual
    from reference.harness import check

    few, many = (20, 120) if quick else (100, 1000)
    check(manual.gradients, examples=10)  # compile the reference's buckets first
    t_few, t_many, serial = marginal_rate(few, many)
    say(f"harness: check manual:gradients, {few} cases {t_few:.2f} s, {many} cases {t_many:.2f} s")
    say(f"  marginal rate {serial:.0f} three-way checks a second (goal 200)")
    cores = os.cpu_count() or 1
    for jobs in sorted({2, cores} if cores > 2 and not quick else {2}):
        p_few, p_many, rate = marginal_rate(few, many, jobs=jobs)
        say(
            f"  --jobs {jobs}: {few} cases {p_few:.2f} s, {many} cases {p_many:.2f} s, marginal "
            f"rate {rate:.0f} a second: {rate / serial:.2f}x one process ({cores} cores here)"
        )
    _on_the_accelerator(few, many, serial, say)


def _on_the_accelerator(few: int, many: int, on_cpu: float, say: Callable[[str], None]) -> None:
    """Where JAX's default is an accelerator: the harness with its small work placed there too
    (``BACKPROP_VERIFY_SMALL_DEVICE=default``), against the CPU placement measured above."""
    import jax

    from reference.network import SMALL_DEVICE_VARIABLE

    backend = jax.default_backend()
    if backend == "cpu":
        say("  (JAX's default backend is the CPU: no accelerator placement to compare)")
        return
    before = os.environ.get(SMALL_DEVICE_VARIABLE)
    os.environ[SMALL_DEVICE_VARIABLE] = "default"
    try:
        marginal_rate(10, 11)  # compile the buckets on the accelerator first
        _, _, there = marginal_rate(few, many)
    finally:
        if before is None:
            os.environ.pop(SMALL_DEVICE_VARIABLE)
        else:
            os.environ[SMALL_DEVICE_VARIABLE] = before
    say(
        f"  small work on the {backend} instead of the CPU: marginal rate {there:.0f} a second; "
        f"on the CPU (the default) {on_cpu:.0f}: {on_cpu / there:.2f}x"
    )


def _cold_check(examples: int, cache: str) -> float:
    """Wall seconds of ``backprop-verify check manual:gradients`` in a fresh process."""
    # without the JAX cache options this command line set in its own environment
    env = {name: value for name, value in os.environ.items() if name not in JAX_VARIABLES}
    env[CACHE_VARIABLE] = cache
    command = [sys.executable, "-m", "reports.cli", "check", "manual:gradients"]
    start = time.perf_counter()
    subprocess.run(
        [*command, "--examples", str(examples)], env=env, capture_output=True, check=True
    )
    return time.perf_counter() - start


def cold_starts(quick: bool, say: Callable[[str], None]) -> None:
    """A fresh process's ``check``: with empty caches, then again with both filled, then with
    JAX's compiled programs alone (the ``jax.grad`` results removed), then with the caches off."""
    examples = 20 if quick else 100
    with tempfile.TemporaryDirectory() as cache:
        first = _cold_check(examples, cache)
        second = _cold_check(examples, cache)
        shutil.rmtree(os.path.join(cache, "jax-grad"), ignore_errors=True)
        compiled_only = _cold_check(examples, cache)
    without = _cold_check(examples, "off")
    say(
        f"cold start: check manual:gradients --examples {examples} in a fresh process: "
        f"{first:.2f} s with empty caches, {second:.2f} s the second time "
        f"({second / first:.2f}x the first; goal <= 0.5); {compiled_only:.2f} s with JAX's "
        f"compiled programs but not the jax.grad results ({compiled_only / first:.2f}x); "
        f"{without:.2f} s with the caches off"
    )
