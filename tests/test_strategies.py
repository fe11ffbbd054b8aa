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
    drawn = [random_case(rng) for _ in range(1000)]
    assert {c.spec.depth for c in drawn} == set(range(1, 9))
    assert {w for c in drawn for w in c.spec.widths} >= {1, 2, 8, 9, 48}
    assert {len(c.X) for c in drawn} >= {1, 8, 9, 64}
    # in the wide draws, widths between the ends are log-uniform: about as many in 2-3 as in
    # 16-31 (each a factor 2 of the range), both far more than none
    wide_widths = [w for c in drawn for w in c.spec.widths if max(c.spec.widths) > 8]
    low = sum(2 <= w <= 3 for w in wide_widths)
    high = sum(16 <= w <= 31 for w in wide_widths)
    assert 0.5 < low / high < 2, (low, high)
    assert {a for c in drawn for a in c.spec.activations} == set(ACTIVATIONS)
    assert {c.spec.loss for c in drawn} == set(LOSSES)
    # a quarter of the draws span the whole range (about 250 of 1000, standard deviation 14)
    wide = [c for c in drawn if c.spec.depth > 4 or max(c.spec.widths) > 8 or len(c.X) > 8]
    assert 180 < len(wide) < 320
    # each end of a range favoured: in the small corner, batch 1 and batch 8 each come
    # 1/8 + (3/4)(1/8) = 7/32 of the time (about 164 of 750) instead of a uniform 1/8 (94);
    # in the wide draws, depth 8 one time in eight plus its uniform share
    assert sum(len(c.X) == 1 for c in drawn) > 120
    assert sum(len(c.X) == 8 for c in drawn) > 120
    assert sum(c.spec.depth == 8 for c in drawn) > 25
    largest = max(float(np.abs(W).max()) for c in drawn for W, _ in c.params)
    assert 20 < largest <= 40  # the "large" style is among them
    assert len(STYLES) == 4


def test_the_small_corner_alone_keeps_to_it():
    rng = np.random.default_rng(1)
    drawn = [random_case(rng, wide_share=0.0) for _ in range(200)]
    assert max(c.spec.depth for c in drawn) == 4
    assert max(max(c.spec.widths) for c in drawn) == 8
    assert max(len(c.X) for c in drawn) == 8


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
