"""The lecture's worked exercises as data (``shared/LECTURE.md``): the networks and inputs of
exercises 1 and 2, shared by the pytest plugin, the command line and the report."""

from __future__ import annotations

import numpy as np

from reference.spec import Spec

__all__ = ["EXERCISE_1_X", "EXERCISE_2", "exercise_1_cases"]

#: Exercise 2: three layers, ReLU hidden layers, identity output, x = (2, 1), biases 0. With the
#: ``output`` loss and one example, R = H, so every gradient is the lecture's ∂H/∂(.).
EXERCISE_2 = {
    "spec": Spec((2, 2, 2, 1), ("relu", "relu", "identity"), "output"),
    "params": [
        (np.array([[2.0, -3.0], [2.0, 1.0]]), np.zeros(2)),
        (np.array([[2.0, 1.0], [0.0, 1.0]]), np.zeros(2)),
        (np.array([[3.0], [-2.0]]), np.zeros(1)),
    ],
    "X": np.array([[2.0, 1.0]]),
    "Y": np.zeros((1, 1)),
}


#: Exercise 1's input; its first unit's weights are W^(1)_11, W^(1)_21, W^(1)_31 = -2, -5, 2.
EXERCISE_1_X = np.array([[3.0, 2.0, -2.0]])


def exercise_1_cases() -> list[tuple[Spec, list, np.ndarray, np.ndarray]]:
    """Three completions of exercise 1's network (the rest of its weights random integers):
    (spec, params, X, Y) each."""
    rng = np.random.default_rng(1)
    cases = []
    for widths, activations in (
        ((3, 2, 1), ("relu", "identity")),
        ((3, 3, 2, 1), ("relu", "relu", "identity")),
        ((3, 4, 1), ("relu", "tanh")),
    ):
        spec = Spec(widths, activations, "output")
        params = [
            (rng.integers(-3, 4, size=w).astype(float), np.zeros(b)) for w, b in spec.shapes()
        ]
        params[0][0][:, 0] = [-2.0, -5.0, 2.0]
        cases.append((spec, params, EXERCISE_1_X.copy(), np.zeros((1, widths[-1]))))
    return cases
