"""The directional mode: right gradients pass, wrong ones are missed no more often than claimed."""

from __future__ import annotations

import numpy as np
import pytest
from mutants import buggy

import manual
from reference import Spec
from reference.directional import directional_check

RNG = np.random.default_rng(7)
SPEC = Spec((4, 6, 5, 3), ("tanh", "softplus", "identity"), "softmax_cross_entropy")
PARAMS = [(RNG.normal(size=w), RNG.normal(size=b)) for w, b in SPEC.shapes()]
X = RNG.normal(size=(5, 4))
Y = np.full((5, 3), 1 / 3)


@pytest.mark.parametrize("seed", range(20))
def test_a_right_gradient_passes_every_direction(seed):
    result = directional_check(manual.gradients, PARAMS, X, Y, SPEC, seed=seed)
    assert result.ok, (result.projected - result.differences, result.tolerance)


@pytest.mark.parametrize("bug", ["forgot_g_prime", "bias_mean", "loss_sign", "deep_layer_sign"])
def test_typical_bugs_fail(bug):
    assert not directional_check(buggy(bug), PARAMS, X, Y, SPEC).ok


def test_a_raising_implementation_is_a_fail():
    def raises(params, X, Y, spec):
        raise ValueError("no")

    result = directional_check(raises, PARAMS, X, Y, SPEC)
    assert not result.ok
    assert "raised ValueError" in result.error


def test_misses_are_no_more_frequent_than_the_stated_bound():
    # A gradient wrong by e with ||e|| three times one direction's tolerance: the bound says it
    # passes one random direction with probability at most √(2/π)/3 ≈ 0.27. Over 400 direction
    # draws the observed rate must stay within three standard errors of the averaged bound.
    right = manual.gradients(PARAMS, X, Y, SPEC)
    tolerance = directional_check(manual.gradients, PARAMS, X, Y, SPEC, directions=1).tolerance
    error_norm = 3 * float(tolerance[0])
    unit = [(RNG.normal(size=dW.shape), RNG.normal(size=db.shape)) for dW, db in right]
    norm = np.sqrt(sum(float((a**2).sum()) for pair in unit for a in pair))
    wrong = [
        (dW + error_norm * u / norm, db + error_norm * v / norm)
        for (dW, db), (u, v) in zip(right, unit, strict=True)
    ]
    misses, bounds = 0, []
    for seed in range(400):
        result = directional_check(lambda *_: wrong, PARAMS, X, Y, SPEC, directions=1, seed=seed)
        misses += result.ok
        bounds.append(result.miss_bound(error_norm))
    bound = float(np.mean(bounds))
    assert 0.2 < bound < 0.35
    assert misses / 400 <= bound + 3 * np.sqrt(bound * (1 - bound) / 400)
    assert misses > 0  # the test can see misses at all
