"""The lecture's worked exercises, each witness's answer (the data: ``reference.exercises``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.exercises import EXERCISE_1_X, EXERCISE_2, exercise_1_cases

__all__ = ["EXERCISE_1_X", "EXERCISE_2", "exercise_1", "exercise_1_cases"]


def exercise_1() -> dict[str, Any]:
    """Exercise 1 on three completions of the network: ∂H/∂W^(1)_11 from every witness.

    By hand: z^(1)_1 = 3 (-2) + 2 (-5) + (-2) 2 = -20 < 0, so relu'(z^(1)_1) = 0, hence
    ∂H/∂z^(1)_1 = 0 (formula 2) and ∂H/∂W^(1)_11 = ∂H/∂z^(1)_1 x_1 = 0 (formula 3), whatever
    the rest of the network is.
    """
    import manual
    from reference import autodiff_gradients, fd_gradients

    completions = []
    for spec, params, X, Y in exercise_1_cases():
        values = {
            label: float(np.asarray(witness(params, X, Y, spec)[0][0])[0, 0])
            for label, witness in (
                ("manual", manual.gradients),
                ("jax", autodiff_gradients),
                ("fd", fd_gradients),
            )
        }
        completions.append(
            {
                "widths": list(spec.widths),
                "activations": list(spec.activations),
                "dH_dW1_11": values,
            }
        )
    X = EXERCISE_1_X
    z = float(X[0] @ np.array([-2.0, -5.0, 2.0]))
    return {
        "question": "W^(1)_11 = -2, W^(1)_21 = -5, W^(1)_31 = 2, x = (3, 2, -2), biases 0, "
        "ReLU: what is ∂H/∂W^(1)_11?",
        "z1_1": z,
        "answer": 0.0,
        "reason": (
            f"z^(1)_1 = 3·(-2) + 2·(-5) + (-2)·2 = {z:g} < 0, so relu'(z^(1)_1) = 0; by formula 2 "
            "∂H/∂z^(1)_1 = ∂H/∂a^(1)_1 · 0 = 0, and by formula 3 ∂H/∂W^(1)_11 = ∂H/∂z^(1)_1 · "
            "x_1 = 0, whatever the rest of the network is."
        ),
        "completions": completions,
        "agrees": all(value == 0.0 for item in completions for value in item["dH_dW1_11"].values()),
    }
