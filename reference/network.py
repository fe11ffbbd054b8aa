"""The reference's own forward pass: activations as ``jax.nn`` defines them, and the losses.

Written independently of ``manual/``: JAX code uses ``jax.nn`` itself; the NumPy versions, used
by the finite differences (which must not pay a JAX compilation per shape), follow the same
definitions. Loss code is generic over the array namespace ``xp`` (``numpy`` or ``jax.numpy``)
and works on any leading batch axes: H and Y are (..., n, n_L).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "SMALL_DEVICE_VARIABLE",
    "computing_in",
    "jax_activation",
    "numpy_activation",
    "per_example_loss",
    "small_device",
]

Array = Any


def _np_sigmoid(z: Array) -> Array:
    # 1 / (1 + e^-z) for z >= 0 and e^z / (1 + e^z) below: no overflow, and a few ulps of
    # *relative* error everywhere, so that sigmoid(-137) is 3e-60 and not 0 (the forward error
    # bound of the finite differences counts on relative accuracy).
    small = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + small), small / (1 + small))


_NUMPY: dict[str, Callable[[Array], Array]] = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z >= 0, z, 0.01 * z),
    "sigmoid": _np_sigmoid,
    "tanh": np.tanh,
    "softplus": lambda z: np.logaddexp(z, 0),
}


def numpy_activation(name: str) -> Callable[[Array], Array]:
    """The activation ``name`` as a NumPy ufunc-like function, with ``jax.nn``'s definition."""
    return _NUMPY[name]


def jax_activation(name: str) -> Callable[[Array], Array]:
    """The activation ``name`` from ``jax.nn`` (``identity`` is the identity map)."""
    import jax

    if name == "identity":
        return lambda z: z
    return getattr(jax.nn, name)


def _logsumexp(xp: ModuleType, H: Array) -> Array:
    top = xp.max(H, axis=-1, keepdims=True)
    return top + xp.log(xp.sum(xp.exp(H - top), axis=-1, keepdims=True))


def per_example_loss(xp: ModuleType, name: str, H: Array, Y: Array, mask: Array = None) -> Array:
    """ℓ(H_i, y_i) summed over output units; H, Y of shape (..., n, n_L) give (..., n).

    ``mask`` (broadcastable to H, booleans) keeps only some output units: the others add nothing
    (nor any gradient) and a softmax runs over the kept ones alone. It lets a network padded
    with unused units compute the loss of the network inside it.
    """
    if name == "softmax_cross_entropy" and mask is not None:
        H = xp.where(mask, H, -xp.inf)
    if name == "square":
        terms = (H - Y) ** 2
    elif name == "output":
        terms = H
    elif name == "logistic":
        terms = xp.logaddexp(H, 0) - Y * H  # softplus(H) - y H: binary cross-entropy on logits
    elif name == "softmax_cross_entropy":
        terms = -Y * (H - _logsumexp(xp, H))
    else:  # Spec validation makes this unreachable
        raise ValueError(f"Unknown loss {name!r}.")
    if mask is not None:
        terms = xp.where(mask, terms, 0)
    return xp.sum(terms, axis=-1)


#: The environment variable that says where small work runs: ``cpu`` (the default) or
#: ``default`` (JAX's default device, an accelerator where there is one).
SMALL_DEVICE_VARIABLE = "BACKPROP_VERIFY_SMALL_DEVICE"


def small_device() -> Any:
    """The device for small computations (the harness's cases, shrinking, the exercises): the
    CPU where JAX's default backend is an accelerator, since arrays of a few hundred entries
    never repay a kernel launch and two transfers; None (JAX's default) where the default is
    the CPU already or ``BACKPROP_VERIFY_SMALL_DEVICE=default`` asks for it."""
    import jax

    if os.environ.get(SMALL_DEVICE_VARIABLE, "cpu") == "default":
        return None
    if jax.default_backend() == "cpu":
        return None
    return jax.devices("cpu")[0]


@contextlib.contextmanager
def computing_in(dtype: Any, *, small: bool = False) -> Iterator[None]:
    """Within this block JAX computes in ``dtype`` at full matmul precision; ``small`` work on
    ``small_device()``.

    float64 turns on ``jax_enable_x64`` for the block only; the caller's setting comes back after.
    """
    import jax

    with contextlib.ExitStack() as stack:
        if np.dtype(dtype) == np.float64:
            stack.enter_context(jax.enable_x64(True))
        stack.enter_context(jax.default_matmul_precision("highest"))
        device = small_device() if small else None
        if device is not None:
            stack.enter_context(jax.default_device(device))
        yield
