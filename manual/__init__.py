"""The hand-written witness: backpropagation from the lecture's four formulas.

``gradients(params, X, Y, spec)`` is the contract's implementation. It computes in NumPy when
given NumPy arrays and in JAX when given JAX arrays (also under ``jax.jit`` with ``spec``
static). Nothing in this package calls JAX's differentiation.
"""

from manual.activations import activation, activation_derivative
from manual.backprop import (
    Backprop,
    Forward,
    activation_gradient,
    backward,
    bias_gradient,
    forward,
    gradients,
    output_activation_gradient,
    pre_activation_gradient,
    risk,
    weight_gradient,
)
from manual.descent import Descent, gradient_descent
from manual.losses import loss, loss_derivative
from manual.vector import pack, parameter_names, unpack

__all__ = [
    "Backprop",
    "Descent",
    "Forward",
    "activation",
    "activation_derivative",
    "activation_gradient",
    "backward",
    "bias_gradient",
    "forward",
    "gradient_descent",
    "gradients",
    "loss",
    "loss_derivative",
    "output_activation_gradient",
    "pack",
    "parameter_names",
    "pre_activation_gradient",
    "risk",
    "unpack",
    "weight_gradient",
]
