"""Each per-example loss beside its derivative ∂ℓ/∂H, for NumPy and ``jax.numpy`` alike.

H and Y have shape (n, n_L), one example per row; losses sum over the output units k.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from manual.activations import activation

__all__ = ["LOSSES", "loss", "loss_derivative"]

Array = Any


def _log_softmax(xp: ModuleType, H: Array) -> Array:
    shifted = H - xp.max(H, axis=1, keepdims=True)  # (n, n_L), every entry <= 0
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def _square(xp: ModuleType, H: Array, Y: Array) -> Array:
    return xp.sum((H - Y) ** 2, axis=1)


def _square_prime(xp: ModuleType, H: Array, Y: Array) -> Array:
    return 2 * (H - Y)


def _output(xp: ModuleType, H: Array, Y: Array) -> Array:
    return xp.sum(H, axis=1)


def _output_prime(xp: ModuleType, H: Array, Y: Array) -> Array:
    return xp.ones_like(H)


def _logistic(xp: ModuleType, H: Array, Y: Array) -> Array:
    return xp.sum(activation(xp, "softplus", H) - Y * H, axis=1)


def _logistic_prime(xp: ModuleType, H: Array, Y: Array) -> Array:
    return activation(xp, "sigmoid", H) - Y


def _softmax_cross_entropy(xp: ModuleType, H: Array, Y: Array) -> Array:
    return -xp.sum(Y * _log_softmax(xp, H), axis=1)


def _softmax_cross_entropy_prime(xp: ModuleType, H: Array, Y: Array) -> Array:
    # -Σ_k y_k (H_k - logsumexp(H)) differentiates to softmax(H)_k Σ_j y_j - y_k; the usual
    # softmax(H) - y assumes Σ_j y_j = 1, which a user's Y need not satisfy exactly.
    p = xp.exp(_log_softmax(xp, H))  # (n, n_L)
    return p * xp.sum(Y, axis=1, keepdims=True) - Y


_RULES: dict[str, tuple[Callable, Callable]] = {
    "square": (_square, _square_prime),
    "output": (_output, _output_prime),
    "logistic": (_logistic, _logistic_prime),
    "softmax_cross_entropy": (_softmax_cross_entropy, _softmax_cross_entropy_prime),
}

LOSSES: tuple[str, ...] = tuple(_RULES)


def loss(xp: ModuleType, name: str, H: Array, Y: Array) -> Array:
    """ℓ(H_i, y_i) for every example; shape (n,)."""
    return _RULES[name][0](xp, H, Y)


def loss_derivative(xp: ModuleType, name: str, H: Array, Y: Array) -> Array:
    """∂ℓ/∂H_k for every example and output unit; shape (n, n_L)."""
    return _RULES[name][1](xp, H, Y)
