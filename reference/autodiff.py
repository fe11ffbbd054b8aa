"""The autodiff witness: the reference forward pass differentiated by ``jax.grad``.

Float64 is the default. It is switched on for the duration of a call only (``jax.enable_x64``),
so a program that imports this package keeps JAX's global setting; float32 inputs compute in
float32 (the float32 mode). Matmuls ask for full precision, which JAX otherwise lowers for
float32 on GPUs.

JAX compiles a function once per set of array shapes (a second or two each), and random
testing meets a new architecture at nearly every case. So the network is padded before it is
differentiated to one of two shapes (``_SHAPES``): depth 4, width 8, batch 8 (the harness's
small corner) or depth 8, width 64, batch 64 (its whole default range); beyond those, each width
and the batch go to a power of two and the depth stays. The extra units get zero weights in and
out, the extra layers are identity layers (W = I, b = 0, the identity activation) after the
output, the extra examples and output units are masked out of the loss, and the activations
and the loss are chosen inside the compiled function by index. All networks up to depth 8,
width 64 and batch 64 then share two compiled functions (per dtype), and a fresh process pays
two compilations, not one per depth. Padding changes no value that is kept: an extra unit
contributes exact zeros, a masked term neither value nor gradient, and an identity layer passes
a^(L) forward and ∂R/∂a^(L) back exactly (each sum has one nonzero term, times 1).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import reference.witness_cache as witness_cache
from reference.network import (
    SMALL_DEVICE_VARIABLE,
    computing_in,
    jax_activation,
    per_example_loss,
)
from reference.spec import ACTIVATIONS, LOSSES, as_arrays, as_spec, check_arrays

__all__ = [
    "AutodiffPass",
    "as_arrays",
    "autodiff_backward",
    "autodiff_gradients",
    "autodiff_started",
    "computing_in",
]


class AutodiffPass(NamedTuple):
    """Everything one differentiated forward pass yields, as NumPy arrays.

    Lists are indexed by lecture layer number; index 0 holds the input where that makes sense.
    """

    grads: list  # [(∂R/∂W^(l) (n_{l-1}, n_l), ∂R/∂b^(l) (n_l,)) for l = 1 ... L]
    Z: list  # Z[l]: z^(l), (n, n_l); Z[0] is None
    A: list  # A[l]: a^(l), (n, n_l); A[0] is X
    g_prime: list  # g_prime[l]: g'(z^(l)) by forward-mode differentiation, (n, n_l); [0] None
    dZ: list  # dZ[l]: ∂R/∂z^(l), (n, n_l); [0] None
    dA: list  # dA[l]: ∂R/∂a^(l), (n, n_l); dA[0] is ∂R/∂X
    risk: float  # R(w)


#: The padded shapes (depth, width, batch) that every network fitting one of them takes: the
#: harness's small corner and its whole default range. Wasted flops on arrays this small cost
#: less than compilations: a case of depth 1 padded to 4 costs a fraction of a millisecond, a
#: compilation a second or two. Bigger networks are padded layer by layer to powers of two.
_SHAPES = ((4, 8, 8), (8, 64, 64))


def _bucket(size: int) -> int:
    """The padded size of a dimension beyond ``_SHAPES``: the next power of two."""
    return 1 << (size - 1).bit_length()


def _padded(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=array.dtype)
    out[tuple(slice(0, size) for size in array.shape)] = array
    return out


def _activate(code: Any, z: Any) -> Any:
    """The activation ``ACTIVATIONS[code]`` (as ``jax.nn`` defines it) applied to z.

    A switch, not a select: only the chosen activation runs (its exp, log or tanh on every
    element is most of the pass's work on a padded network)."""
    import jax

    return jax.lax.switch(code, [jax_activation(name) for name in ACTIVATIONS], z)


def _masked_risk(H: Any, Y: Any, masks: tuple, loss_code: Any) -> Any:
    """R = (1/n) Σ_i ℓ(h_i, y_i) over the real examples and output units only."""
    import jax.numpy as jnp

    rows, outputs, n = masks
    losses = jnp.select(
        [loss_code == index for index in range(len(LOSSES))],
        [per_example_loss(jnp, name, H, Y, mask=outputs) for name in LOSSES],
    )
    return jnp.sum(jnp.where(rows, losses, 0)) / n


def _probed_risk(params: list, probes: tuple[list, list], X: Any, Y: Any, plan: tuple) -> Any:
    """R(w) with zero probes added to every z^(l) and a^(l): their gradients are ∂R/∂z, ∂R/∂a."""
    codes, loss_code, masks = plan
    probe_z, probe_a = probes
    a = X + probe_a[0]
    for layer, (W, b) in enumerate(params, start=1):
        z = a @ W + b + probe_z[layer - 1]
        a = _activate(codes[layer - 1], z) + probe_a[layer]
    return _masked_risk(a, Y, masks, loss_code)


def _forward_tangents(params: list, X: Any, codes: Any) -> tuple[list, list, list]:
    import jax
    import jax.numpy as jnp

    Z, A, G = [], [X], []
    for layer, (W, b) in enumerate(params):
        z = A[-1] @ W + b
        a, g_prime = jax.jvp(lambda z, c=codes[layer]: _activate(c, z), (z,), (jnp.ones_like(z),))
        Z.append(z)
        A.append(a)
        G.append(g_prime)
    return Z, A, G


def _autodiff_pass(params: list, X: Any, Y: Any, plan: tuple) -> tuple:
    import jax
    import jax.numpy as jnp

    Z, A, G = _forward_tangents(params, X, plan[0])
    probes = ([jnp.zeros_like(z) for z in Z], [jnp.zeros_like(a) for a in A])
    risk, (grads, (dZ, dA)) = jax.value_and_grad(_probed_risk, argnums=(0, 1))(
        params, probes, X, Y, plan
    )
    return grads, Z, A, G, dZ, dA, risk


def _stacked_pass(params: list, X: Any, Y: Any, plan: tuple) -> tuple:
    """``_autodiff_pass`` for a network of one width throughout, every list stacked into one
    array: a handful of transfers back from the device instead of one per layer and quantity."""
    import jax.numpy as jnp

    grads, Z, A, G, dZ, dA, risk = _autodiff_pass(params, X, Y, plan)
    dW = jnp.stack([pair[0] for pair in grads])  # (depth, width, width)
    db = jnp.stack([pair[1] for pair in grads])  # (depth, width)
    # (5, depth + 1, rows, width): z, g', ∂R/∂z (with a zero layer 0), a, ∂R/∂a
    zero = jnp.zeros_like(A[0])
    rows = jnp.stack([jnp.stack([zero, *q]) for q in (Z, G, dZ)] + [jnp.stack(A), jnp.stack(dA)])
    return dW, db, rows, risk


@functools.cache
def _compiled(stacked: bool = False) -> Any:
    import jax

    return jax.jit(_stacked_pass if stacked else _autodiff_pass)


class _Padded(NamedTuple):
    """A network padded to a compiled shape, with what cuts its results back."""

    params: list  # (W, b) pairs, padded, identity layers appended up to the padded depth
    X: np.ndarray  # (rows, widths[0])
    Y: np.ndarray  # (rows, widths[-1])
    plan: tuple  # activation codes, loss code, masks (real rows, real outputs, n)
    stacked: bool  # one width throughout (a shape of ``_SHAPES``)


def _fits(spec: Any, n: int) -> tuple[int, int, int] | None:
    """The smallest shape of ``_SHAPES`` that a network of ``spec`` at batch ``n`` fits."""
    needed = (spec.depth, max(spec.widths), n)
    return next((s for s in _SHAPES if all(a <= b for a, b in zip(needed, s, strict=True))), None)


def _pad(params: list, X: np.ndarray, Y: np.ndarray, spec: Any) -> _Padded:
    """The network in the smallest shape of ``_SHAPES`` it fits, else layer by layer in powers
    of two; masks keep the padding out of R."""
    L, n = spec.depth, X.shape[0]
    activations = list(spec.activations)
    shape = _fits(spec, n)
    if shape is not None:  # one width for every layer, identity layers up to the depth
        depth, rows = shape[0], shape[2]
        widths = [shape[1]] * (depth + 1)
    else:
        depth, rows = L, _bucket(n)
        widths = [_bucket(width) for width in spec.widths]
    padded = [
        (_padded(W, (widths[k], widths[k + 1])), _padded(b, (widths[k + 1],)))
        for k, (W, b) in enumerate(params)
    ]
    for k in range(L, depth):  # identity layers after the output: a^(L) passes unchanged
        padded.append((np.eye(widths[k], dtype=X.dtype), np.zeros(widths[k], dtype=X.dtype)))
        activations.append("identity")
    masks = (
        np.arange(rows) < n,
        np.arange(widths[-1]) < spec.widths[-1],
        np.asarray(n, dtype=X.dtype),
    )
    plan = (
        np.array([ACTIVATIONS.index(name) for name in activations], dtype=np.int32),
        np.int32(LOSSES.index(spec.loss)),
        masks,
    )
    X_padded, Y_padded = _padded(X, (rows, widths[0])), _padded(Y, (rows, widths[-1]))
    return _Padded(padded, X_padded, Y_padded, plan, shape is not None)


def _cut_back(running: tuple, stacked: bool, spec: Any, n: int) -> tuple:
    """The padded pass's results (waited for) cut back to the real network of ``n`` examples."""
    L = spec.depth
    if stacked:
        dW, db, rows_out, risk = (np.asarray(a) for a in running)
        grads = list(zip(dW, db, strict=True))
        Z, G, dZ = (list(q[1:]) for q in rows_out[:3])
        A, dA = list(rows_out[3]), list(rows_out[4])
    else:
        grads, Z, A, G, dZ, dA, risk = running

    def cut(array: Any, columns: int) -> np.ndarray:
        return np.asarray(array)[:n, :columns]

    out_grads = [
        (np.asarray(dW)[:fan_in, :fan_out], np.asarray(db)[:fan_out])
        for (dW, db), fan_in, fan_out in zip(
            grads[:L], spec.widths[:-1], spec.widths[1:], strict=True
        )
    ]
    units = spec.widths[1:]
    return (
        out_grads,
        [cut(z, m) for z, m in zip(Z[:L], units, strict=True)],
        [cut(a, m) for a, m in zip(A[: L + 1], spec.widths, strict=True)],
        [cut(g, m) for g, m in zip(G[:L], units, strict=True)],
        [cut(d, m) for d, m in zip(dZ[:L], units, strict=True)],
        [cut(d, m) for d, m in zip(dA[: L + 1], spec.widths, strict=True)],
        float(risk),
    )


def _run_padded(params: list, X: np.ndarray, Y: np.ndarray, spec: Any) -> Callable[[], tuple]:
    """Start the differentiated pass on the padded network; the function returned waits for it
    and cuts every result back to the real network. JAX computes asynchronously: the caller
    may do other work in between."""
    padded = _pad(params, X, Y, spec)
    running = _compiled(padded.stacked)(padded.params, padded.X, padded.Y, padded.plan)
    return functools.partial(_cut_back, running, padded.stacked, spec, X.shape[0])


def autodiff_backward(params: Any, X: Any, Y: Any, spec: Any) -> AutodiffPass:
    """One ``jax.grad`` pass giving ∇_w R and the intermediate quantities of every layer.

    Computes in the dtype of the inputs (float64 unless they are float32); see ``AutodiffPass``.
    """
    return autodiff_started(params, X, Y, spec)()


def autodiff_started(
    params: Any, X: Any, Y: Any, spec: Any, *, checked: bool = False
) -> Callable[[], AutodiffPass]:
    """``autodiff_backward`` started: JAX computes while the caller goes on, and the function
    returned waits for the pass and gives it. ``checked``: the caller has validated the inputs
    and cast them to one dtype already, as ``verify`` has."""
    if not checked:
        spec = as_spec(spec)
        check_arrays(params, X, Y, spec)
        params, X, Y = as_arrays(params, X, Y)
    small = _fits(spec, X.shape[0]) is not None
    # small work runs on the CPU (``small_device``), where a kept result was computed too
    kept = (
        small
        and witness_cache.directory() is not None
        and os.environ.get(SMALL_DEVICE_VARIABLE, "cpu") != "default"
    )
    name = witness_cache.key(params, X, Y, spec) if kept else None
    found = None if name is None else _from_arrays(witness_cache.load(name), spec, X)
    if found is not None:
        return lambda: found
    with computing_in(X.dtype, small=small):
        finish = _run_padded(params, X, Y, spec)

    def result() -> AutodiffPass:
        grads, Z, A, G, dZ, dA, risk = finish()
        computed = AutodiffPass(
            grads=grads,
            Z=[None, *Z],
            A=A,
            g_prime=[None, *G],
            dZ=[None, *dZ],
            dA=dA,
            risk=risk,
        )
        if name is not None:
            witness_cache.save(name, _as_arrays(computed))
        return computed

    return result


#: The per-layer quantities of a pass and their first layer (A and ∂R/∂a include the input).
_LAYERED = (("Z", 1), ("g_prime", 1), ("dZ", 1), ("A", 0), ("dA", 0))


def _as_arrays(computed: AutodiffPass) -> dict[str, np.ndarray]:
    """A pass as named arrays (``witness_cache``'s entries): layer l's quantities end in l."""
    arrays = {"risk": np.asarray(computed.risk)}
    for layer, (dW, db) in enumerate(computed.grads, start=1):
        arrays[f"dW{layer}"], arrays[f"db{layer}"] = dW, db
    for name, first in _LAYERED:
        for layer, array in enumerate(getattr(computed, name)[first:], start=first):
            arrays[f"{name}{layer}"] = array
    return arrays


def _shapes(spec: Any, n: int) -> dict[str, tuple[int, ...]]:
    """The name and shape of every array ``_as_arrays`` gives for a network of ``spec``."""
    shapes: dict[str, tuple[int, ...]] = {"risk": ()}
    for layer, (w_shape, b_shape) in enumerate(spec.shapes(), start=1):
        shapes[f"dW{layer}"], shapes[f"db{layer}"] = w_shape, b_shape
    for name, first in _LAYERED:
        for layer in range(first, spec.depth + 1):
            shapes[f"{name}{layer}"] = (n, spec.widths[layer])
    return shapes


def _from_arrays(arrays: dict | None, spec: Any, X: np.ndarray) -> AutodiffPass | None:
    """``_as_arrays`` read back; None unless every array is there in its shape and X's dtype."""
    shapes = _shapes(spec, X.shape[0])
    if arrays is None or {name: a.shape for name, a in arrays.items()} != shapes:
        return None
    if any(a.dtype != X.dtype for name, a in arrays.items() if name != "risk"):  # risk: a float
        return None

    layered = {
        name: [None] * first + [arrays[f"{name}{k}"] for k in range(first, spec.depth + 1)]
        for name, first in _LAYERED
    }
    return AutodiffPass(
        grads=[(arrays[f"dW{k}"], arrays[f"db{k}"]) for k in range(1, spec.depth + 1)],
        risk=float(arrays["risk"]),
        **layered,
    )


def autodiff_gradients(
    params: Any, X: Any, Y: Any, spec: Any
) -> list[tuple[np.ndarray, np.ndarray]]:
    """∇_w R by ``jax.grad`` of the reference forward pass; the contract's signature.

    Args:
        params: L pairs (W^(l) (n_{l-1}, n_l), b^(l) (n_l,)).
        X: shape (n, n_0). Y: shape (n, n_L).
        spec: a ``reference.Spec``.

    Returns:
        ``[(∂R/∂W^(l), ∂R/∂b^(l)), ...]`` as NumPy arrays in the inputs' dtype.
    """
    return autodiff_backward(params, X, Y, spec).grads
