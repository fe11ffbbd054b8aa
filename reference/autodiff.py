"""The autodiff witness: the reference forward pass differentiated by ``jax.grad``.

Float64 is the default. It is switched on for the duration of a call only (``jax.enable_x64``),
so a program that imports this package keeps JAX's global setting; float32 inputs compute in
float32 (the float32 mode). Matmuls ask for full precision, which JAX otherwise lowers for
float32 on GPUs.

JAX compiles a function once per set of array shapes, and random testing meets a new
architecture at nearly every case. So the network is padded before it is differentiated: every
width (for small networks, the largest width) and the batch are rounded up to a bucket (a power
of two, at least 8), the extra units get zero weights in and out, the extra examples and output
units are masked out of the loss, and the activations and the loss are chosen inside the
compiled function by index. All networks up to width 8 and batch 8 of one depth then share one
compiled function. Padding changes no value that is kept: an extra unit contributes exact
zeros, a masked term neither value nor gradient.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from reference.network import jax_activation, per_example_loss
from reference.spec import ACTIVATIONS, LOSSES, as_spec, check_arrays

__all__ = ["AutodiffPass", "as_arrays", "autodiff_backward", "autodiff_gradients", "computing_in"]


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


def as_arrays(
    params: Any, X: Any, Y: Any, dtype: Any = None
) -> tuple[list, np.ndarray, np.ndarray]:
    """NumPy copies of params, X, Y in one floating dtype (their promotion, or ``dtype``)."""
    params = [(np.asarray(W), np.asarray(b)) for W, b in params]
    X, Y = np.asarray(X), np.asarray(Y)
    if dtype is None:
        dtype = np.result_type(*[a for pair in params for a in pair], X, Y)
        if not np.issubdtype(dtype, np.floating):
            dtype = np.float64
    dtype = np.dtype(dtype)
    return [(W.astype(dtype), b.astype(dtype)) for W, b in params], X.astype(dtype), Y.astype(dtype)


@contextlib.contextmanager
def computing_in(dtype: Any) -> Iterator[None]:
    """Within this block JAX computes in ``dtype`` at full matmul precision.

    float64 turns on ``jax_enable_x64`` for the block only; the caller's setting comes back after.
    """
    import jax

    with contextlib.ExitStack() as stack:
        if np.dtype(dtype) == np.float64:
            stack.enter_context(jax.enable_x64(True))
        stack.enter_context(jax.default_matmul_precision("highest"))
        yield


_MIN_BUCKET = 8
#: Networks no wider than this are padded to one width throughout: a few wasted flops buy one
#: compiled function per depth. Wider ones are padded layer by layer.
_SHARED_UP_TO = 64


def _bucket(size: int) -> int:
    """The padded size of a dimension: the next power of two, at least ``_MIN_BUCKET``."""
    return max(_MIN_BUCKET, 1 << (size - 1).bit_length())


def _padded(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=array.dtype)
    out[tuple(slice(0, size) for size in array.shape)] = array
    return out


def _activate(code: Any, z: Any) -> Any:
    """The activation ``ACTIVATIONS[code]`` (as ``jax.nn`` defines it) applied to z."""
    import jax.numpy as jnp

    return jnp.select(
        [code == index for index in range(len(ACTIVATIONS))],
        [jax_activation(name)(z) for name in ACTIVATIONS],
    )


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


@functools.cache
def _compiled() -> Any:
    import jax

    return jax.jit(_autodiff_pass)


def _run_padded(params: list, X: np.ndarray, Y: np.ndarray, spec: Any) -> tuple:
    """The differentiated pass on the padded network; every result cut back to the real one."""
    if max(spec.widths) <= _SHARED_UP_TO:  # small networks: one width for every layer
        widths = [_bucket(max(spec.widths))] * len(spec.widths)
    else:
        widths = [_bucket(width) for width in spec.widths]
    n = X.shape[0]
    rows = _bucket(n)
    padded = [
        (_padded(W, (widths[k], widths[k + 1])), _padded(b, (widths[k + 1],)))
        for k, (W, b) in enumerate(params)
    ]
    masks = (
        np.arange(rows) < n,
        np.arange(widths[-1]) < spec.widths[-1],
        np.asarray(n, dtype=X.dtype),
    )
    plan = (
        np.array([ACTIVATIONS.index(name) for name in spec.activations], dtype=np.int32),
        np.int32(LOSSES.index(spec.loss)),
        masks,
    )
    X_padded, Y_padded = _padded(X, (rows, widths[0])), _padded(Y, (rows, widths[-1]))
    grads, Z, A, G, dZ, dA, risk = _compiled()(padded, X_padded, Y_padded, plan)

    def cut(array: Any, columns: int) -> np.ndarray:
        return np.asarray(array)[:n, :columns]

    out_grads = [
        (np.asarray(dW)[:fan_in, :fan_out], np.asarray(db)[:fan_out])
        for (dW, db), fan_in, fan_out in zip(grads, spec.widths[:-1], spec.widths[1:], strict=True)
    ]
    units = spec.widths[1:]
    return (
        out_grads,
        [cut(z, m) for z, m in zip(Z, units, strict=True)],
        [cut(a, m) for a, m in zip(A, spec.widths, strict=True)],
        [cut(g, m) for g, m in zip(G, units, strict=True)],
        [cut(d, m) for d, m in zip(dZ, units, strict=True)],
        [cut(d, m) for d, m in zip(dA, spec.widths, strict=True)],
        risk,
    )


def autodiff_backward(params: Any, X: Any, Y: Any, spec: Any) -> AutodiffPass:
    """One ``jax.grad`` pass giving ∇_w R and the intermediate quantities of every layer.

    Computes in the dtype of the inputs (float64 unless they are float32); see ``AutodiffPass``.
    """
    spec = as_spec(spec)
    check_arrays(params, X, Y, spec)
    params, X, Y = as_arrays(params, X, Y)
    with computing_in(X.dtype):
        grads, Z, A, G, dZ, dA, risk = _run_padded(params, X, Y, spec)
        return AutodiffPass(
            grads=grads,
            Z=[None, *Z],
            A=A,
            g_prime=[None, *G],
            dZ=[None, *dZ],
            dA=dA,
            risk=float(risk),
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
