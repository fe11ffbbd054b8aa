"""The lecture's worked exercises as data (``shared/LECTURE.md``)."""

from __future__ import annotations

import numpy as np

from reference.spec import Spec

__all__ = ["EXERCISE_2"]

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
