"""Timing helpers of the benchmarks and the report, and the networks they time."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from reference import Spec

__all__ = [
    "exponent",
    "jitted_gradients",
    "mlp",
    "per_call_seconds",
    "seconds",
    "time_directional",
    "time_jitted",
]


def seconds(task: Callable[[], Any], repeat: int = 1) -> float:
    """The best of ``repeat`` wall times of ``task()``."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        task()
        best = min(best, time.perf_counter() - start)
    return float(best)


def per_call_seconds(task: Callable[[], Any], least: float = 0.02, repeat: int = 3) -> float:
    """The time of one call of ``task()``: calls looped until a loop lasts at least ``least``
    seconds (so that even a call of microseconds is measured over a span the clock resolves and
    the machine's jitter averages over), the best of ``repeat`` such loops."""

    def loop(calls: int) -> float:
        return seconds(lambda: [task() for _ in range(calls)])

    calls = 1
    while (spent := loop(calls)) < least:
        calls *= 2 if spent <= 0 else min(10, max(2, int(least / spent) + 1))
    best = min([spent] + [loop(calls) for _ in range(repeat - 1)])
    return best / calls


def mlp(widths: tuple[int, ...], activations: tuple[str, ...], loss: str, n: int, seed: int = 0):
    spec = Spec(widths, activations, loss)
    rng = np.random.default_rng(seed)
    params = [
        (rng.normal(size=w) / np.sqrt(w[0]), rng.normal(size=b) * 0.1) for w, b in spec.shapes()
    ]
    X = rng.normal(size=(n, widths[0]))
    if loss == "softmax_cross_entropy":
        Y = np.eye(widths[-1])[rng.integers(0, widths[-1], n)]
    else:
        Y = rng.normal(size=(n, widths[-1]))
    return spec, params, X, Y


def time_directional(hidden: int, repeat: int) -> tuple[tuple, int, float, bool]:
    """``directional_check`` of ``manual.gradients`` on a 784-hidden-hidden-10 tanh MLP (batch
    16): the case ``(spec, params, X, Y)``, its parameter count, the best of ``repeat`` warm
    times and whether it passed."""
    import manual
    from reference.directional import directional_check

    case = mlp((784, hidden, hidden, 10), ("tanh", "tanh", "identity"), "softmax_cross_entropy", 16)
    spec, params, X, Y = case
    P = sum(W.size + b.size for W, b in params)
    directional_check(manual.gradients, params, X, Y, spec)  # compiled before the timing
    warm = seconds(lambda: directional_check(manual.gradients, params, X, Y, spec), repeat)
    ok = directional_check(manual.gradients, params, X, Y, spec).ok
    return case, P, warm, ok


def exponent(sizes: list[int], times: list[float]) -> float:
    """The slope of log time against log size, least squares."""
    slope, _ = np.polyfit(np.log(sizes), np.log(times), 1)
    return float(slope)


def jitted_gradients(spec: Spec) -> tuple[Callable, Callable]:
    """Jitted ``manual.gradients`` and jitted ``jax.grad`` of a plain forward pass, for ``spec``.

    Both take (params, X, Y) as JAX arrays; call them inside ``computing_in(float64)``.
    """
    import jax
    import jax.numpy as jnp

    import manual
    from reference.network import jax_activation, per_example_loss

    def risk(current, X, Y):
        a = X
        for (W, b), name in zip(current, spec.activations, strict=True):
            a = jax_activation(name)(a @ W + b)
        return jnp.mean(per_example_loss(jnp, spec.loss, a, Y))

    ours = jax.jit(lambda p, x, y: manual.gradients(p, x, y, spec))
    return ours, jax.jit(jax.grad(risk))


def time_jitted(
    widths: tuple[int, ...], batch: int, dtype: Any, rounds: int
) -> tuple[float, float, float, float]:
    """Jitted ``manual.gradients`` and jitted ``jax.grad`` on a relu MLP of ``widths`` with a
    softmax loss, in ``dtype`` on JAX's default device: the median seconds of each over
    ``rounds`` interleaved calls, the device's matmul rate in ``dtype`` (FLOP/s, a square
    product as wide as the first layer) and the gradient's FLOPs."""
    import jax
    import jax.numpy as jnp

    from reference.network import computing_in

    spec, params, X, Y = mlp(
        widths, ("relu",) * (len(widths) - 2) + ("identity",), "softmax_cross_entropy", batch
    )
    side = max(widths[0], 1024)
    with computing_in(dtype):
        jparams = [(jnp.asarray(W, dtype), jnp.asarray(b, dtype)) for W, b in params]
        jX, jY = jnp.asarray(X, dtype), jnp.asarray(Y, dtype)
        ours, theirs = jitted_gradients(spec)
        square = jnp.asarray(np.random.default_rng(0).normal(size=(side, side)), dtype)
        matmul = jax.jit(lambda a: a @ a)
        for fn, args in (
            (ours, (jparams, jX, jY)),
            (theirs, (jparams, jX, jY)),
            (matmul, (square,)),
        ):
            jax.block_until_ready(fn(*args))
        t_ours, t_theirs = [], []
        for _ in range(rounds):  # interleaved: both see the same machine
            t_ours.append(seconds(lambda: jax.block_until_ready(ours(jparams, jX, jY))))
            t_theirs.append(seconds(lambda: jax.block_until_ready(theirs(jparams, jX, jY))))
        t_mm = seconds(lambda: jax.block_until_ready(matmul(square)), 10)
    flops = 3 * 2 * batch * sum(i * o for i, o in itertools.pairwise(widths))
    return statistics.median(t_ours), statistics.median(t_theirs), 2 * side**3 / t_mm, flops
