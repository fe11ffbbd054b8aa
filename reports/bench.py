"""``backprop-verify bench``: speed, measured side by side in one run, printed as ratios.

Every comparison times its contenders in the same process, one after the other, so that the
ratios hold on a shared, noisy machine even when the absolute times do not.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from reference import Spec
from reference.spec import vector_of

__all__ = ["exponent", "jitted_gradients", "mlp", "per_call_seconds", "run", "seconds"]


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


def _plain_loop(params: list, X: np.ndarray, Y: np.ndarray, spec: Spec, entries: int) -> None:
    """Central differences one entry at a time, a full forward pass for each value of R."""
    from reference.fd import risk_of

    current = [[W.copy(), b.copy()] for W, b in params]
    flat = [
        (layer, k, index)
        for layer, pair in enumerate(current)
        for k, array in enumerate(pair)
        for index in np.ndindex(array.shape)
    ]
    h = 2.0**-17
    for layer, k, index in flat[:entries]:
        array = current[layer][k]
        keep = array[index]
        array[index] = keep + h
        up = risk_of(current, X, Y, spec)
        array[index] = keep - h
        down = risk_of(current, X, Y, spec)
        array[index] = keep
        _ = (up - down) / (2 * h)


def exponent(sizes: list[int], times: list[float]) -> float:
    """The slope of log time against log size, least squares."""
    slope, _ = np.polyfit(np.log(sizes), np.log(times), 1)
    return float(slope)


def _torch_risk(params: list, X: np.ndarray, Y: np.ndarray, spec: Spec) -> tuple[Callable, tuple]:
    """R of a tanh/identity network with square loss written in torch, and its parameters as
    float64 tensors that require gradients: the function gradcheck is given (torch imported
    here, never a dependency)."""
    import torch

    activations = {"tanh": torch.tanh, "identity": lambda z: z}
    if spec.loss != "square" or not set(spec.activations) <= set(activations):
        raise ValueError("the torch network covers tanh and identity layers, square loss")
    tensors = tuple(torch.tensor(a, requires_grad=True) for pair in params for a in pair)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)

    def risk(*flat: Any) -> Any:
        a = Xt
        for layer, name in enumerate(spec.activations):
            a = activations[name](a @ flat[2 * layer] + flat[2 * layer + 1])
        return ((a - Yt) ** 2).sum(dim=1).mean()

    return risk, tensors


def _gradcheck_seconds(params: list, X: np.ndarray, Y: np.ndarray, spec: Spec) -> float | None:
    """``torch.autograd.gradcheck`` (slow mode, float64) on the same network, where torch is
    installed; None where it is not (it is never a dependency)."""
    try:
        import torch
    except ImportError:
        return None
    risk, tensors = _torch_risk(params, X, Y, spec)
    return seconds(lambda: torch.autograd.gradcheck(risk, tensors, fast_mode=False))


def _throughput(quick: bool, say: Callable[[str], None]) -> None:
    import manual
    from reference.harness import check

    few, many = (20, 120) if quick else (100, 1000)
    check(manual.gradients, examples=10)  # compile the reference's buckets first
    t_few = seconds(lambda: check(manual.gradients, examples=few, seed=1))
    t_many = seconds(lambda: check(manual.gradients, examples=many, seed=1))
    rate = (many - few) / max(t_many - t_few, 1e-9)
    say(f"harness: check manual:gradients, {few} cases {t_few:.2f} s, {many} cases {t_many:.2f} s")
    say(f"  marginal rate {rate:.0f} three-way checks a second (goal 200)")


def _finite_differences(quick: bool, say: Callable[[str], None]) -> None:
    from reference import autodiff_gradients, fd_gradients

    hidden = 20 if quick else 200
    widths = (100, hidden, hidden, 1)
    spec, params, X, Y = mlp(widths, ("tanh", "tanh", "identity"), "square", 16)
    P = sum(W.size + b.size for W, b in params)
    t_first = seconds(lambda: fd_gradients(params, X, Y, spec))  # compiles its tail once
    t_ours = seconds(lambda: fd_gradients(params, X, Y, spec), 3)
    ours = fd_gradients(params, X, Y, spec)
    exact = autodiff_gradients(params, X, Y, spec)
    flat, truth = vector_of(ours), vector_of(exact)
    error = np.linalg.norm(flat - truth) / np.linalg.norm(truth)
    sample = min(P, 300 if quick else 2000)
    t_loop = seconds(lambda: _plain_loop(params, X, Y, spec, sample)) * P / sample
    say(
        f"finite differences of every entry, {'-'.join(map(str, widths))} tanh MLP, batch 16, "
        f"P = {P}:"
    )
    say(
        f"  ours {t_ours:.2f} s warm, best of 3 ({t_first:.2f} s the first time, compilation "
        f"included; normwise error {error:.1e}); plain per-entry loop {t_loop:.2f} s (timed on "
        f"{sample} entries, scaled): ratio {t_loop / t_ours:.1f}x"
    )
    gradcheck = None if quick else _gradcheck_seconds(params, X, Y, spec)
    if quick:
        say("  (torch.autograd.gradcheck is compared at full size only)")
    elif gradcheck is None:
        say(
            "  torch.autograd.gradcheck, slow mode, on this network: about 18 s on this machine "
            f"(not installed here; not a dependency): ratio about {18 / t_ours:.0f}x warm "
            "(goal 30x)"
        )
    else:
        say(
            f"  torch.autograd.gradcheck, slow mode, same network: {gradcheck:.2f} s: ratio "
            f"{gradcheck / t_ours:.1f}x warm (goal 30x)"
        )
    _fd_growth(quick, say)


def _fd_growth(quick: bool, say: Callable[[str], None]) -> None:
    """How the time of every-entry finite differences and of the plain loop grows with P."""
    from reference import fd_gradients

    sizes, ours_times, loop_times = [], [], []
    for width in (5, 10, 20) if quick else (25, 50, 100, 200):
        spec, params, X, Y = mlp((100, width, width, 1), ("tanh", "tanh", "identity"), "square", 16)
        P = sum(W.size + b.size for W, b in params)
        sizes.append(P)
        fd_gradients(params, X, Y, spec)  # wide layers run compiled: compile outside the timing
        ours_times.append(
            seconds(lambda spec=spec, params=params, X=X, Y=Y: fd_gradients(params, X, Y, spec))
        )
        part = min(P, 500)
        loop_times.append(
            seconds(
                lambda spec=spec, params=params, X=X, Y=Y, part=part: _plain_loop(
                    params, X, Y, spec, part
                )
            )
            * P
            / part
        )
    say(
        f"  growth with P ({', '.join(map(str, sizes))}): ours P^{exponent(sizes, ours_times):.2f}"
        f", plain loop P^{exponent(sizes, loop_times):.2f}"
    )


def _directional(quick: bool, say: Callable[[str], None]) -> None:
    import jax.test_util

    import manual
    from reference.directional import directional_check
    from reference.network import computing_in, jax_activation, per_example_loss

    hidden = 64 if quick else 1024
    spec, params, X, Y = mlp(
        (784, hidden, hidden, 10), ("tanh", "tanh", "identity"), "softmax_cross_entropy", 16
    )
    P = sum(W.size + b.size for W, b in params)
    directional_check(manual.gradients, params, X, Y, spec)
    t_ours = seconds(lambda: directional_check(manual.gradients, params, X, Y, spec), 3)
    ours_ok = directional_check(manual.gradients, params, X, Y, spec).ok

    import jax.numpy as jnp

    def risk(current):
        a = jnp.asarray(X)
        for (W, b), name in zip(current, spec.activations, strict=True):
            a = jax_activation(name)(a @ W + b)
        return jnp.mean(per_example_loss(jnp, spec.loss, a, jnp.asarray(Y)))

    verdicts: list[str] = []

    def theirs() -> None:
        try:
            jax.test_util.check_grads(risk, (jparams,), order=1, modes=("rev",))
            verdicts.append("passed")
        except AssertionError:  # its fixed eps and tolerances, on a right gradient
            verdicts.append("raised a false alarm")

    with computing_in(np.float64):
        jparams = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
        theirs()
        t_theirs = seconds(theirs, 3)
    say(
        f"directional check, 784-{hidden}-{hidden}-10, P = {P}: ours (3 directions, warm) "
        f"{t_ours:.2f} s, {'passed' if ours_ok else 'FAILED'}; jax.test_util.check_grads (rev, "
        f"order 1, warm) {t_theirs:.2f} s, {verdicts[-1]}: ratio {t_theirs / t_ours:.2f}x"
    )


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


def _jit(quick: bool, say: Callable[[str], None]) -> None:
    import jax
    import jax.numpy as jnp

    from reference.network import computing_in

    widths = (784, 64, 64, 10) if quick else (784, 512, 512, 10)
    spec, params, X, Y = mlp(widths, ("relu", "relu", "identity"), "softmax_cross_entropy", 256)
    with computing_in(np.float64):
        jparams = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
        jX, jY = jnp.asarray(X), jnp.asarray(Y)
        ours, theirs = jitted_gradients(spec)
        square = jnp.asarray(np.random.default_rng(0).normal(size=(1024, 1024)))
        matmul = jax.jit(lambda a: a @ a)
        for fn, args in (
            (ours, (jparams, jX, jY)),
            (theirs, (jparams, jX, jY)),
            (matmul, (square,)),
        ):
            jax.block_until_ready(fn(*args))
        rounds = 10 if quick else 40
        t_ours, t_theirs = [], []
        for _ in range(rounds):  # interleaved: both see the same machine
            t_ours.append(seconds(lambda: jax.block_until_ready(ours(jparams, jX, jY))))
            t_theirs.append(seconds(lambda: jax.block_until_ready(theirs(jparams, jX, jY))))
        t_mm = seconds(lambda: jax.block_until_ready(matmul(square)), 10)
    a, b = statistics.median(t_ours), statistics.median(t_theirs)
    flops = 3 * 2 * 256 * sum(i * o for i, o in itertools.pairwise(widths))
    peak = 2 * 1024**3 / t_mm
    say(
        f"jitted gradient, {'-'.join(map(str, widths))} relu MLP, batch 256, float64: manual "
        f"{a * 1e3:.1f} ms, jax.grad {b * 1e3:.1f} ms (medians of {rounds}): ratio {a / b:.3f} "
        f"(goal <= 1.05)"
    )
    say(
        f"  share of this machine's float64 matmul rate ({peak / 1e9:.1f} GFLOP/s): manual "
        f"{flops / a / peak:.0%}, jax.grad {flops / b / peak:.0%}"
    )


def run(quick: bool = False, say: Callable[[str], None] = print) -> None:
    """Every benchmark, in order; ``quick`` shrinks the sizes (for tests)."""
    for part in (_throughput, _finite_differences, _directional, _jit):
        part(quick, say)
