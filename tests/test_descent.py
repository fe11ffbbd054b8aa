"""Empirical risk minimization with the hand-written gradients."""

from __future__ import annotations

import numpy as np
import pytest

import manual
from reference import Spec, autodiff_gradients

LINEAR = Spec((3, 1), ("identity",), "square")

# float64 reaches the least-squares solution to ~1e-10 in 2,000 steps of this well-conditioned
# problem; float32 stalls at its rounding level, ~1e-5 of the weights' size.
DESCENT_TOLERANCE = {np.float64: 1e-8, np.float32: 1e-4}
# Trajectories differ only by rounding, which gradient descent (a contraction here) does not
# amplify: a few hundred u after 100 steps.
TRAJECTORY_TOLERANCE = {np.float64: 1e-12, np.float32: 1e-4}


def problem(dtype):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 3))
    Y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.normal(size=(20, 1))
    params = [(np.zeros((3, 1)), np.zeros(1))]
    return [(W.astype(dtype), b.astype(dtype)) for W, b in params], X.astype(dtype), Y.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_descent_reaches_least_squares(dtype):
    params, X, Y = problem(dtype)
    result = manual.gradient_descent(params, X, Y, LINEAR, learning_rate=0.1, steps=2000)
    augmented = np.hstack([X.astype(np.float64), np.ones((len(X), 1))])  # Aug(x) with bias last
    solution, *_ = np.linalg.lstsq(augmented, Y.astype(np.float64), rcond=None)
    W, b = result.params[0]
    np.testing.assert_allclose(np.append(W[:, 0], b), solution[:, 0], atol=DESCENT_TOLERANCE[dtype])
    assert result.risks[-1] <= result.risks[0]
    assert result.trajectory.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_manual_and_jax_trajectories_coincide(dtype):
    spec = Spec((3, 4, 1), ("tanh", "identity"), "square")
    rng = np.random.default_rng(3)
    params = [
        ((0.5 * rng.normal(size=w)).astype(dtype), np.zeros(b, dtype=dtype))
        for w, b in spec.shapes()
    ]
    _, X, Y = problem(dtype)
    ours = manual.gradient_descent(params, X, Y, spec, learning_rate=0.05, steps=100)
    theirs = manual.gradient_descent(
        params, X, Y, spec, learning_rate=0.05, steps=100, gradient=autodiff_gradients
    )
    scale = np.abs(ours.trajectory).max()
    np.testing.assert_allclose(
        ours.trajectory, theirs.trajectory, rtol=0, atol=TRAJECTORY_TOLERANCE[dtype] * scale
    )
    assert ours.risks[-1] < 0.5 * ours.risks[0]  # it did learn


def test_negative_steps_are_rejected():
    params, X, Y = problem(np.float64)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        manual.gradient_descent(params, X, Y, LINEAR, learning_rate=0.1, steps=-1)
