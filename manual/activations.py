"""Each activation g beside its derivative g', written by hand for NumPy and ``jax.numpy`` alike.

Conventions follow ``jax.nn`` exactly: relu'(0) = 0, leaky_relu'(0) = 1 (its ``z >= 0`` branch),
negative slope 0.01. Every form is stable for |z| up to 1e3 and far beyond: no ``exp`` of a
positive number is ever taken.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["ACTIVATIONS", "activation", "activation_derivative"]

LEAKY_SLOPE = 0.01

Array = Any


def _identity(xp: ModuleType, z: Array) -> Array:
    return z


def _identity_prime(xp: ModuleType, z: Array) -> Array:
    return xp.ones_like(z)


def _relu(xp: ModuleType, z: Array) -> Array:
    return xp.maximum(z, 0)


def _relu_prime(xp: ModuleType, z: Array) -> Array:
    # g'(0) = 0, as jax.nn.relu defines it; the lecture leaves z = 0 open.
    return (z > 0).astype(z.dtype)


def _leaky_relu(xp: ModuleType, z: Array) -> Array:
    return xp.where(z >= 0, z, LEAKY_SLOPE * z)


def _leaky_relu_prime(xp: ModuleType, z: Array) -> Array:
    # 1 on z >= 0 (z = 0 included, as jax.nn.leaky_relu's where() gives), the slope below.
    return LEAKY_SLOPE + (1 - LEAKY_SLOPE) * (z >= 0).astype(z.dtype)


def _sigmoid(xp: ModuleType, z: Array) -> Array:
    e = xp.exp(-xp.abs(z))  # in (0, 1]: never overflows
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _sigmoid_prime(xp: ModuleType, z: Array) -> Array:
    # s(1 - s) = e / (1 + e)^2 with e = exp(-|z|), which keeps full relative accuracy where
    # s(1 - s) would round 1 - s to 0.
    e = xp.exp(-xp.abs(z))
    return e / (1 + e) ** 2


def _tanh(xp: ModuleType, z: Array) -> Array:
    return xp.tanh(z)


def _tanh_prime(xp: ModuleType, z: Array) -> Array:
    t = xp.tanh(z)
    return 1 - t * t


def _softplus(xp: ModuleType, z: Array) -> Array:
    # log(1 + e^z) = max(z, 0) + log1p(e^{-|z|})
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


def _softplus_prime(xp: ModuleType, z: Array) -> Array:
    return _sigmoid(xp, z)


_RULES: dict[str, tuple[Callable, Callable]] = {
    "identity": (_identity, _identity_prime),
    "relu": (_relu, _relu_prime),
    "leaky_relu": (_leaky_relu, _leaky_relu_prime),
    "sigmoid": (_sigmoid, _sigmoid_prime),
    "tanh": (_tanh, _tanh_prime),
    "softplus": (_softplus, _softplus_prime),
}

ACTIVATIONS: tuple[str, ...] = tuple(_RULES)


def activation(xp: ModuleType, name: str, z: Array) -> Array:
    """g(z), elementwise; any shape."""
    return _RULES[name][0](xp, z)


def activation_derivative(xp: ModuleType, name: str, z: Array) -> Array:
    """g'(z), elementwise; any shape."""
    return _RULES[name][1](xp, z)
