"""Backpropagation by hand, one function per formula of the lecture (``shared/LECTURE.md``).

Notation follows the lecture, with a batch of n examples stored as rows:

- ``A[l]`` is a^(l) for every example, shape (n, n_l); ``A[0]`` is X.
- ``Z[l]`` is z^(l), shape (n, n_l), for l = 1 ... L (``Z[0]`` is unused and set to None so that
  list indices are layer numbers).
- ``W^(l)`` has shape (n_{l-1}, n_l) and ``b^(l)`` shape (n_l,), so Z^(l) = A^(l-1) W^(l) + b^(l).
- ``delta[l]`` is ∂R/∂z^(l) (n, n_l), ``dA[l]`` is ∂R/∂a^(l) (n, n_l).

The lecture differentiates H; here the quantity is the empirical risk R = (1/n) Σ_i ℓ(H(x_i), y_i),
and the chain rule of empirical risk minimization enters once, at the output: ∂R/∂a^(L) =
(1/n) ∂ℓ/∂H. With the ``output`` loss, n = 1 and n_L = 1, R = H and every quantity below is the
lecture's ∂H/∂(.) exactly.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from manual._arrays import prepare
from manual.activations import activation, activation_derivative
from manual.losses import loss, loss_derivative
from reference.spec import as_spec, check_arrays

__all__ = [
    "Backprop",
    "Forward",
    "activation_gradient",
    "backward",
    "bias_gradient",
    "forward",
    "gradients",
    "output_activation_gradient",
    "pre_activation_gradient",
    "risk",
    "weight_gradient",
]

Array = Any


class Forward(NamedTuple):
    """The forward pass, keeping every z and a (step 1 of the algorithm)."""

    Z: list  # Z[l]: z^(l), (n, n_l); Z[0] is None
    A: list  # A[l]: a^(l), (n, n_l); A[0] is X, A[L] is H


class Backprop(NamedTuple):
    """Every quantity of the backward pass, indexed by lecture layer number (index 0 unused)."""

    forward: Forward
    dA: list  # dA[l]: ∂R/∂a^(l), (n, n_l)
    delta: list  # delta[l]: ∂R/∂z^(l), (n, n_l)
    grads: list  # [(∂R/∂W^(l) (n_{l-1}, n_l), ∂R/∂b^(l) (n_l,)) for l = 1 ... L]


def _forward(xp: ModuleType, params: list, X: Array, activations: tuple[str, ...]) -> Forward:
    Z: list = [None]
    A: list = [X]
    for (W, b), name in zip(params, activations, strict=True):
        z = A[-1] @ W + b  # (n, n_l) = (n, n_{l-1}) @ (n_{l-1}, n_l) + (n_l,)
        Z.append(z)
        A.append(activation(xp, name, z))
    return Forward(Z, A)


def forward(params: Any, X: Any, spec: Any) -> Forward:
    """Evaluate the network on every row of X, keeping z^(l) and a^(l) for every layer.

    Args:
        params: L pairs (W^(l) (n_{l-1}, n_l), b^(l) (n_l,)).
        X: shape (n, n_0).
        spec: a ``reference.Spec`` (or any object with ``widths``, ``activations``, ``loss``).
    """
    spec = as_spec(spec)
    try:
        n = np.shape(X)[0]
    except (ValueError, IndexError):  # ragged or 0-d: check_arrays names the problem
        n = 1
    # forward needs no Y: a stand-in of the right shape lets check_arrays validate the rest,
    # and prepare leaves it out of the dtype promotion
    check_arrays(params, X, np.empty((n, spec.widths[-1])), spec)
    xp, params, X, _ = prepare(params, X)
    return _forward(xp, params, X, spec.activations)


def risk(params: Any, X: Any, Y: Any, spec: Any) -> Array:
    """The empirical risk R(w) = (1/n) Σ_i ℓ(H(x_i; w), y_i), a scalar."""
    spec = as_spec(spec)
    check_arrays(params, X, Y, spec)
    xp, params, X, Y = prepare(params, X, Y)
    H = _forward(xp, params, X, spec.activations).A[-1]
    return xp.mean(loss(xp, spec.loss, H, Y))


def output_activation_gradient(xp: ModuleType, loss_name: str, H: Array, Y: Array) -> Array:
    """∂R/∂a^(L) = (1/n) ∂ℓ/∂H: the chain rule of empirical risk minimization; (n, n_L)."""
    n = H.shape[0]
    return loss_derivative(xp, loss_name, H, Y) / n


def activation_gradient(delta_next: Array, W_next: Array) -> Array:
    """Formula 1: ∂R/∂a_j^(l) = Σ_k ∂R/∂z_k^(l+1) W_jk^(l+1).

    Args:
        delta_next: ∂R/∂z^(l+1), shape (n, n_{l+1}).
        W_next: W^(l+1), shape (n_l, n_{l+1}).

    Returns:
        ∂R/∂a^(l), shape (n, n_l).
    """
    return delta_next @ W_next.T  # (n, n_l) = (n, n_{l+1}) @ (n_{l+1}, n_l)


def pre_activation_gradient(xp: ModuleType, dA: Array, Z: Array, name: str) -> Array:
    """Formula 2: ∂R/∂z_j^(l) = ∂R/∂a_j^(l) g'(z_j^(l)).

    Args:
        dA: ∂R/∂a^(l), shape (n, n_l).
        Z: z^(l), shape (n, n_l).
        name: the activation g of layer l.

    Returns:
        ∂R/∂z^(l) (the "delta" of layer l), shape (n, n_l).
    """
    return dA * activation_derivative(xp, name, Z)


def weight_gradient(A_prev: Array, delta: Array) -> Array:
    """Formula 3, summed over the batch: ∂R/∂W_ij^(l) = Σ_examples ∂R/∂z_j^(l) a_i^(l-1).

    Args:
        A_prev: a^(l-1), shape (n, n_{l-1}).
        delta: ∂R/∂z^(l), shape (n, n_l).

    Returns:
        ∂R/∂W^(l), shape (n_{l-1}, n_l).
    """
    return A_prev.T @ delta  # (n_{l-1}, n_l) = (n_{l-1}, n) @ (n, n_l)


def bias_gradient(delta: Array) -> Array:
    """Formula 4, summed over the batch: ∂R/∂b_j^(l) = Σ_examples ∂R/∂z_j^(l); shape (n_l,)."""
    return delta.sum(axis=0)


def backward(params: Any, X: Any, Y: Any, spec: Any) -> Backprop:
    """Run the lecture's algorithm: the forward pass, then layers L ... 1 backwards.

    Each layer's ∂R/∂z^(l) is computed once from layer l+1's and reused for both ∂R/∂W^(l) and
    ∂R/∂b^(l) and for layer l-1: nothing is computed twice.

    Args:
        params: L pairs (W^(l) (n_{l-1}, n_l), b^(l) (n_l,)).
        X: shape (n, n_0).
        Y: shape (n, n_L).
        spec: a ``reference.Spec`` (or any object with ``widths``, ``activations``, ``loss``).
    """
    spec = as_spec(spec)
    check_arrays(params, X, Y, spec)
    xp, params, X, Y = prepare(params, X, Y)
    L = spec.depth
    fwd = _forward(xp, params, X, spec.activations)
    Z, A, names = fwd.Z, fwd.A, (None, *spec.activations)

    dA: list = [None] * (L + 1)
    delta: list = [None] * (L + 1)
    grads: list = [None] * (L + 1)
    dA[L] = output_activation_gradient(xp, spec.loss, A[L], Y)
    for layer in range(L, 0, -1):
        if layer < L:
            W_next = params[layer][0]  # W^(l+1): params is 0-based, layers 1-based
            dA[layer] = activation_gradient(delta[layer + 1], W_next)
        delta[layer] = pre_activation_gradient(xp, dA[layer], Z[layer], names[layer])
        grads[layer] = (weight_gradient(A[layer - 1], delta[layer]), bias_gradient(delta[layer]))
    return Backprop(fwd, dA, delta, grads[1:])


def gradients(params: Any, X: Any, Y: Any, spec: Any) -> list[tuple[Array, Array]]:
    """∇_w R by backpropagation: ``[(∂R/∂W^(1), ∂R/∂b^(1)), ..., (∂R/∂W^(L), ∂R/∂b^(L))]``.

    The contract's implementation signature. NumPy in, NumPy out (no JAX involved); JAX arrays
    in, JAX arrays out, also under ``jax.jit(gradients, static_argnames="spec")``.
    Shapes match ``params``: ∂R/∂W^(l) is (n_{l-1}, n_l), ∂R/∂b^(l) is (n_l,).
    """
    return backward(params, X, Y, spec).grads
