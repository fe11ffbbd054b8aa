"""The cheap case generators (``seeded_cases``, and ``random_case`` that ``check`` draws from):
bounds kept, targets valid, edges reached."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.spec import ACTIVATIONS, LOSSES
from reference.strategies import STYLES, random_case, seeded_cases

BOUNDS = {"min_depth": 2, "max_depth": 3, "min_width": 2, "max_width": 5, "max_batch": 3}


@settings(max_examples=200, derandomize=True, database=None)
@given(case=seeded_cases(**BOUNDS))
def test_seeded_cases_keep_their_bounds_and_valid_targets(case):
    assert_within_bounds(case)


def test_random_cases_keep_their_bounds_and_valid_targets():
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert_within_bounds(random_case(rng, **BOUNDS))


def test_random_cases_cover_every_choice_and_both_ends():
    rng = np.random.default_rng(0)
    drawn = [random_case(rng) for _ in range(500)]
    assert {c.spec.depth for c in drawn} == {1, 2, 3, 4}
    assert {w for c in drawn for w in c.spec.widths} == set(range(1, 9))
    assert {len(c.X) for c in drawn} == set(range(1, 9))
    assert {a for c in drawn for a in c.spec.activations} == set(ACTIVATIONS)
    assert {c.spec.loss for c in drawn} == set(LOSSES)
    # both ends favoured, as Hypothesis favours them: each 1/8 + (3/4)(1/8) = 7/32 of the time
    # (about 109 of 500, standard deviation 9) instead of a uniform draw's 1/8 (62)
    assert sum(len(c.X) == 1 for c in drawn) > 80
    assert sum(len(c.X) == 8 for c in drawn) > 80
    largest = max(float(np.abs(W).max()) for c in drawn for W, _ in c.params)
    assert 20 < largest <= 40  # the "large" style is among them
    assert len(STYLES) == 4


def test_random_case_is_reproducible_from_the_seed():
    first = random_case(np.random.default_rng(7))
    again = random_case(np.random.default_rng(7))
    assert first.spec == again.spec
    np.testing.assert_array_equal(first.X, again.X)


def assert_within_bounds(case):
    spec = case.spec
    assert 2 <= spec.depth <= 3
    assert all(2 <= width <= 5 for width in spec.widths)
    assert 1 <= len(case.X) <= 3
    assert case.Y.shape == (len(case.X), spec.widths[-1])
    assert [(W.shape, b.shape) for W, b in case.params] == list(spec.shapes())
    if spec.loss == "logistic":
        assert np.all((case.Y >= 0) & (case.Y <= 1))
    if spec.loss == "softmax_cross_entropy":
        np.testing.assert_allclose(case.Y.sum(axis=1), 1.0)


def test_seeded_values_reach_the_edges():
    seen = []

    @settings(max_examples=300, derandomize=True, database=None)
    @given(case=seeded_cases(style="float"), unused=st.none())
    def collect(case, unused):
        seen.extend(np.concatenate([a.ravel() for pair in case.params for a in pair]))

    collect()
    values = np.array(seen)
    assert np.any(values == 0.0)
    assert np.any(values == 1 / 3)
    assert np.any((values != 0) & (np.abs(values) < 1e-300))  # near underflow
    assert np.all(np.abs(values) <= 2.0)
