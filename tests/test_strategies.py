"""The seeded strategy that ``check`` draws from: bounds kept, targets valid, edges reached."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.strategies import seeded_cases


@settings(max_examples=200, derandomize=True, database=None)
@given(case=seeded_cases(min_depth=2, max_depth=3, min_width=2, max_width=5, max_batch=3))
def test_seeded_cases_keep_their_bounds_and_valid_targets(case):
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
