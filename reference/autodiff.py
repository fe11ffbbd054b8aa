"""The autodiff witness: the reference forward pass differentiated by ``jax.grad``.

Float64 is the default. It is switched on for the duration of a call only (``jax.enable_x64``),
so a program that imports this package keeps JAX's global setting; float32 inputs compute in
float32 (the float32 mode). Matmuls ask for full precision, which JAX otherwise lowers for
float32 on GPUs.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from reference.network import jax_activation, per_example_loss
from reference.spec import as_spec, check_arrays

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


def _probed_risk(params: list, probes: tuple[list, list], X: Any, Y: Any, spec: Any) -> Any:
    """R(w) with zero probes added to every z^(l) and a^(l): their gradients are ∂R/∂z, ∂R/∂a."""
    import jax.numpy as jnp

    probe_z, probe_a = probes
    a = X + probe_a[0]
    for layer, ((W, b), name) in enumerate(zip(params, spec.activations, strict=True), start=1):
        z = a @ W + b + probe_z[layer - 1]
        a = jax_activation(name)(z) + probe_a[layer]
    return jnp.mean(per_example_loss(jnp, spec.loss, a, Y))


def _forward_tangents(params: list, X: Any, spec: Any) -> tuple[list, list, list]:
    import jax
    import jax.numpy as jnp

    Z, A, G = [], [X], []
    for (W, b), name in zip(params, spec.activations, strict=True):
        z = A[-1] @ W + b
        a, g_prime = jax.jvp(jax_activation(name), (z,), (jnp.ones_like(z),))
        Z.append(z)
        A.append(a)
        G.append(g_prime)
    return Z, A, G


def _autodiff_pass(params: list, X: Any, Y: Any, spec: Any) -> tuple:
    import jax
    import jax.numpy as jnp

    Z, A, G = _forward_tangents(params, X, spec)
    probes = ([jnp.zeros_like(z) for z in Z], [jnp.zeros_like(a) for a in A])
    risk, (grads, (dZ, dA)) = jax.value_and_grad(_probed_risk, argnums=(0, 1))(
        params, probes, X, Y, spec
    )
    return grads, Z, A, G, dZ, dA, risk


@functools.cache
def _compiled() -> Any:
    import jax

    return jax.jit(_autodiff_pass, static_argnames=("spec",))


def autodiff_backward(params: Any, X: Any, Y: Any, spec: Any) -> AutodiffPass:
    """One ``jax.grad`` pass giving ∇_w R and the intermediate quantities of every layer.

    Computes in the dtype of the inputs (float64 unless they are float32); see ``AutodiffPass``.
    """
    spec = as_spec(spec)
    check_arrays(params, X, Y, spec)
    params, X, Y = as_arrays(params, X, Y)
    with computing_in(X.dtype):
        grads, Z, A, G, dZ, dA, risk = _compiled()(params, X, Y, spec)
        to_np = np.asarray
        return AutodiffPass(
            grads=[(to_np(dW), to_np(db)) for dW, db in grads],
            Z=[None, *map(to_np, Z)],
            A=list(map(to_np, A)),
            g_prime=[None, *map(to_np, G)],
            dZ=[None, *map(to_np, dZ)],
            dA=list(map(to_np, dA)),
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
