"""The sizes an accelerator is for: the jitted gradient on layers wide enough to fill it, in
float64 and float32 with its share of the device's matmul rate; finite differences of every
entry and the directional check at sizes a CPU does not reach in reasonable time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from reports.bench_timing import mlp, seconds, time_directional, time_jitted

__all__ = ["device_sizes"]


def _jitted(width: int, batch: int, dtype: type, say: Callable[[str], None]) -> None:
    widths = (width, width, width, 10)
    a, b, peak, flops = time_jitted(widths, batch, dtype, 10)
    name = np.dtype(dtype).name
    say(
        f"  jitted gradient, {'-'.join(map(str, widths))} relu MLP, batch {batch}, {name}: manual "
        f"{a * 1e3:.2f} ms, jax.grad {b * 1e3:.2f} ms: ratio {a / b:.3f}; share of the "
        f"{name} matmul rate ({peak / 1e12:.2f} TFLOP/s): manual {flops / a / peak:.0%}, "
        f"jax.grad {flops / b / peak:.0%}"
    )


def _every_entry(hidden: int, say: Callable[[str], None]) -> None:
    from reference import fd_gradients

    spec, params, X, Y = mlp((100, hidden, hidden, 1), ("tanh", "tanh", "identity"), "square", 16)
    P = sum(W.size + b.size for W, b in params)
    first = seconds(lambda: fd_gradients(params, X, Y, spec))
    warm = seconds(lambda: fd_gradients(params, X, Y, spec), 2)
    say(
        f"  finite differences of every entry, 100-{hidden}-{hidden}-1, P = {P}: {warm:.2f} s "
        f"warm ({first:.2f} s the first time)"
    )


def _directional(hidden: int, say: Callable[[str], None]) -> None:
    _, P, warm, ok = time_directional(hidden, 2)
    say(
        f"  directional check, 784-{hidden}-{hidden}-10, P = {P}: {warm:.2f} s warm, "
        f"{'passed' if ok else 'FAILED'}"
    )


def device_sizes(quick: bool, say: Callable[[str], None], accelerator: bool | None = None) -> None:
    """The accelerator's sizes, where JAX's default backend is one (``accelerator`` forces the
    choice: the tests run these paths on the CPU at quick sizes)."""
    import jax

    backend = jax.default_backend()
    if accelerator is None:
        accelerator = backend != "cpu"
    if not accelerator:
        say("accelerator sizes: JAX's default backend is the CPU here; they run where it is not")
        return
    say(f"accelerator sizes, on JAX's default backend ({backend}):")
    width, batch = (64, 32) if quick else (4096, 1024)
    for dtype in (np.float64, np.float32):
        _jitted(width, batch, dtype, say)
    _every_entry(20 if quick else 400, say)
    _directional(64 if quick else 3000, say)
