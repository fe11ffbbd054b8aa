"""``backprop-verify bench``: speed, measured side by side in one run, printed as ratios.

Every comparison times its contenders in the same process, one after the other, so that the
ratios hold on a shared, noisy machine even when the absolute times do not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from reference import Spec
from reference.spec import vector_of
from reports.bench_device import device_sizes
from reports.bench_harness import cold_starts, throughput
from reports.bench_timing import exponent, mlp, seconds, time_directional, time_jitted

__all__ = ["run"]


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

    from reference.network import computing_in, jax_activation, per_example_loss

    hidden = 64 if quick else 1024
    (spec, params, X, Y), P, t_ours, ours_ok = time_directional(hidden, 3)

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


def _jit(quick: bool, say: Callable[[str], None]) -> None:
    widths = (784, 64, 64, 10) if quick else (784, 512, 512, 10)
    rounds = 10 if quick else 40
    a, b, peak, flops = time_jitted(widths, 256, np.float64, rounds)
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
    for part in (throughput, cold_starts, _finite_differences, _directional, _jit, device_sizes):
        part(quick, say)
