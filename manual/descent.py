"""Step 3 of empirical risk minimization: gradient descent on R(w)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from manual.backprop import gradients, risk
from manual.vector import pack, unpack
from reference.spec import as_spec

__all__ = ["Descent", "gradient_descent"]


class Descent(NamedTuple):
    """The result of ``gradient_descent``."""

    params: list  # the final (W, b) pairs
    trajectory: np.ndarray  # (steps + 1, P): w before each step, then the final w
    risks: np.ndarray  # (steps + 1,): R(w) at each row of ``trajectory``


def gradient_descent(
    params: Any,
    X: Any,
    Y: Any,
    spec: Any,
    *,
    learning_rate: float,
    steps: int,
    gradient: Callable = gradients,
) -> Descent:
    """Take ``steps`` steps w <- w - learning_rate ∇_w R(w), starting from ``params``.

    ``gradient`` is any implementation with the contract's signature; by default the hand-written
    backprop. Runs in NumPy, in the dtype of ``params``.
    """
    spec = as_spec(spec)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    w = pack(params)
    dtype = w.dtype if np.issubdtype(w.dtype, np.floating) else np.dtype("float64")
    w = w.astype(dtype)
    X, Y = np.asarray(X, dtype=dtype), np.asarray(Y, dtype=dtype)
    trajectory = [w]
    for _ in range(steps):
        grad = pack(
            [(np.asarray(dW), np.asarray(db)) for dW, db in gradient(unpack(w, spec), X, Y, spec)]
        )
        w = w - dtype.type(learning_rate) * grad.astype(dtype)
        trajectory.append(w)
    trajectory_array = np.stack(trajectory)
    risks = np.array([risk(unpack(row, spec), X, Y, spec) for row in trajectory_array])
    return Descent(unpack(w, spec), trajectory_array, risks)
