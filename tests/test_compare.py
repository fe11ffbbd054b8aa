"""The comparison arithmetic on witnesses built by hand: every interval edge, factor and summary
field of reference/compare.py at values chosen so that each constant shows.

Powers of two and small integers throughout, so that every sum and quotient below is exact.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from reference.autodiff import AutodiffPass
from reference.compare import (
    ParamComparison,
    compare_to_autodiff,
    compare_to_fd,
)
from reference.fd import FiniteDifferences
from reference.tolerance import _loss_derivative_error

TINY = np.finfo(np.float64).tiny
INF = math.inf


def _fd(rows: dict) -> FiniteDifferences:
    """A one-layer witness, W of shape (1, k) and b of shape (1,), from per-entry rows
    (value, lower, upper, kink, unresolved, sampled); the last row is b's entry."""
    columns = list(zip(*rows.values(), strict=True))

    def pair(values, dtype=float):
        values = np.array(values, dtype=dtype)
        return [(values[None, :-1].copy(), values[-1:].copy())]

    value, lower, upper, kink, unresolved, sampled = columns
    return FiniteDifferences(
        gradients=pair(value),
        error=pair([0.0] * len(value)),
        kink=pair(kink, bool),
        unresolved=pair(unresolved, bool),
        lower=pair(lower),
        upper=pair(upper),
        step=pair([0.25] * len(value)),
        sampled=pair(sampled, bool),
    )


# value, lower, upper, kink, unresolved, sampled
WITNESS = {
    "smooth": (1.0, 0.5, 1.5, False, False, True),
    "kink": (-1.0, -4.0, 0.0, True, False, True),
    "abstains": (0.0, -INF, INF, True, True, True),
    "not differenced": (math.nan, -INF, INF, False, False, False),
    "point": (5.0, 5.0, 5.0, False, False, True),
    "b": (2.0, 1.0, 3.0, False, False, True),
}


def _candidate(values):
    values = np.array(values, dtype=float)
    return [(values[None, :-1], values[-1:])]


def test_every_edge_of_the_intervals_is_inside_and_the_next_float_outside():
    fd = _fd(WITNESS)
    edges = [1.5, -4.0, 1e300, -1e300, 5.0, 1.0]  # the upper and lower edges, anything, 5, 1
    assert compare_to_fd(_candidate(edges), fd).ok
    for entry, edge, direction in [(0, 1.5, INF), (1, -4.0, -INF), (4, 5.0, INF), (5, 1.0, -INF)]:
        moved = list(edges)
        moved[entry] = np.nextafter(edge, direction)
        [wrong] = compare_to_fd(_candidate(moved), fd).mismatches
        index = (0, entry) if entry < 5 else (0,)
        assert (wrong.layer, wrong.param, wrong.bad_entries) == (
            1,
            "W" if entry < 5 else "b",
            [index],
        )


def test_an_unresolved_or_undifferenced_entry_judges_nothing_even_nan():
    fd = _fd(WITNESS)
    result = compare_to_fd(_candidate([1.0, -1.0, math.nan, math.nan, 5.0, 2.0]), fd)
    assert result.ok
    assert not compare_to_fd(_candidate([math.nan, -1.0, 0.0, 0.0, 5.0, 2.0]), fd).ok


def test_the_ratio_is_the_distance_from_the_middle_over_the_half_width():
    fd = _fd(WITNESS)
    W, b = compare_to_fd(_candidate([2.0, 2.0, 7.0, 7.0, 5.0, 4.0]), fd).params
    ratios, half_widths = W.ratios(), W.tolerances()
    # smooth: |2 - 1| / 0.5; kink: |2 - (-2)| / 2; abstaining and undifferenced: 0; the point
    # [5, 5]: 0 over the smallest normal number, not 0 / 0
    assert ratios.tolist() == [[2.0, 2.0, 0.0, 0.0, 0.0]]
    assert half_widths.tolist() == [[0.5, 2.0, TINY, TINY, TINY]]
    assert b.ratios().tolist() == [2.0]  # |4 - 2| / 1
    assert (W.kink_entries, W.unresolved_entries, b.kink_entries, b.unresolved_entries) == (
        2,
        1,
        0,
        0,
    )
    assert (W.worst_ratio, W.worst_entry) == (2.0, (0, 0))  # the first of the two largest
    assert W.bad_entries == [(0, 0), (0, 1)]


def test_a_comparison_sent_to_another_process_keeps_its_measures_and_its_verdict():
    # check --jobs pickles each case's comparisons in the worker: the measure, a closure over
    # the witness, goes as its values (the ratios and half widths of the test above)
    fd = _fd(WITNESS)
    W, b = compare_to_fd(_candidate([2.0, 2.0, 7.0, 7.0, 5.0, 4.0]), fd).params
    state = W.__getstate__()
    assert state["_measure"]()[0].tolist() == [[2.0, 2.0, 0.0, 0.0, 0.0]]
    assert W.__dict__["_measure"] is not state["_measure"]  # the original keeps its own
    sent = pickle.loads(pickle.dumps(W))
    assert sent.ratios().tolist() == [[2.0, 2.0, 0.0, 0.0, 0.0]]
    assert sent.tolerances().tolist() == [[0.5, 2.0, TINY, TINY, TINY]]
    assert (sent.ok, sent.bad_entries, sent.worst_entry) == (False, [(0, 0), (0, 1)], (0, 0))
    assert pickle.loads(pickle.dumps(b)).ratios().tolist() == [2.0]


def test_each_bias_bound_is_its_own_units_deltas_times_17_u_at_this_point():
    # One identity layer, n_0 = 50 inputs, n = 2 examples (the two sizes differ, so neither can
    # stand in for the other), X = 0 and b = 0: H = 0 exactly, no forward error. Square loss,
    # y = (2^-20, 1000) in both examples: δ_ij = 2 (h_ij - y_ij) / n = -y_ij, so
    # |y_ij| = n |δ_ij| / 2 and |h_ij| = 0. With u = eps (the bound's unit):
    #   e(∂R/∂H)_ij = 8 u (n |δ| + |y| + |h|) / n + u |δ| = 8 u (1.5 |δ|) + u |δ| = 13 u |δ|
    #   e(δ)_ij = e(∂R/∂H)_ij g' + u |δ| = 14 u |δ|                         (g' = 1, exact)
    #   e(b_j) = γ_{n+1} Σ_i (|δ_ij| + e(δ)_ij) + Σ_i e(δ)_ij = (3 + 14) u Σ_i |δ_ij|
    # to first order in u (the smallest normal number's terms are 1e-287 of these).
    from reference.autodiff import autodiff_backward
    from reference.compare import backprop_error_bound
    from reference.spec import Spec

    spec = Spec((50, 2), ("identity",), "square")
    params = [(np.linspace(-1.0, 1.0, 100).reshape(50, 2), np.zeros(2))]
    X, Y = np.zeros((2, 50)), np.array([[2.0**-20, 1000.0], [2.0**-20, 1000.0]])
    ref = autodiff_backward(params, X, Y, spec)
    [(_, eb)] = backprop_error_bound(ref, params, Y, spec, np.float64)
    u = np.finfo(np.float64).eps
    deltas = np.array([2 * 2.0**-20, 2 * 1000.0])  # Σ_i |δ_ij|, unit by unit
    assert eb == pytest.approx(17 * u * deltas, rel=1e-9, abs=0)


def test_the_forward_error_enters_the_bound_as_derived_by_hand():
    # One identity layer, x = (1, 1, 1, 1), W = (1, 1, 1, 1)^T, b = 0, y = 0, square loss, n = 1;
    # u = eps. Forward: z = 4, a dot product of k = n_0 + 1 = 5 terms: e(z) = γ_5 * 4 = 20 u;
    # e(h) = |g'| e(z) + 4 u |h| = 20 u + 16 u = 36 u (identity: g' = 1, no rounding of its own).
    # Backward: δ = ∂R/∂h = 2 (h - y) = 8; its error is the Lipschitz term 2 e(h) = 72 u plus
    # 8 u (|δ| n + |y| + |h|) = 96 u plus u |δ| = 8 u: 176 u; e(δ) = 176 u + u |δ| = 184 u.
    # e(b) = γ_{n+1} (|δ| + e(δ)) + e(δ) = 2 u * 8 + 184 u = 200 u to first order, and each
    # e(W_i) the same, as x_i = 1 and x carries no error.
    from reference.autodiff import autodiff_backward
    from reference.compare import backprop_error_bound
    from reference.spec import Spec

    spec = Spec((4, 1), ("identity",), "square")
    params = [(np.ones((4, 1)), np.zeros(1))]
    X, Y = np.ones((1, 4)), np.zeros((1, 1))
    ref = autodiff_backward(params, X, Y, spec)
    [(eW, eb)] = backprop_error_bound(ref, params, Y, spec, np.float64)
    u = np.finfo(np.float64).eps
    assert eb == pytest.approx([200 * u], rel=1e-9, abs=0)
    assert eW == pytest.approx(np.full((4, 1), 200 * u), rel=1e-9, abs=0)


def test_a_hidden_layers_error_sums_over_the_next_layers_units():
    # widths 1-1-3, identity twice, output loss (R = Σ_j h_j), x = 1, W^(1) = 1, W^(2) = (1,1,1),
    # b = 0; u = eps. Forward: z^(1) = 1, e = γ_2 = 2 u; e(a^(1)) = 2 u + 4 u |a| = 6 u;
    # z^(2)_j = 1, e = γ_2 (1 + 6 u) + 6 u = 8 u; e(h_j) = 8 u + 4 u = 12 u. Backward: ∂R/∂h_j = 1
    # with error 8 u (|D| n + |y| + |h|) + u |D| = 16 u + u = 17 u; e(δ^(2)_j) = 17 u + u = 18 u,
    # e(b^(2)_j) = γ_2 (1 + 18 u) + 18 u = 20 u. Layer 1 sums over the k = n_2 = 3 units above:
    # e(∂R/∂a^(1)) = γ_3 Σ_j (1 + 18 u) + Σ_j 18 u = 9 u + 54 u = 63 u; δ^(1) = 3, so
    # e(δ^(1)) = 63 u + 3 u = 66 u and e(b^(1)) = γ_2 (3 + 66 u) + 66 u = 72 u, to first order.
    from reference.autodiff import autodiff_backward
    from reference.compare import backprop_error_bound
    from reference.spec import Spec

    spec = Spec((1, 1, 3), ("identity", "identity"), "output")
    params = [(np.ones((1, 1)), np.zeros(1)), (np.ones((1, 3)), np.zeros(3))]
    X, Y = np.ones((1, 1)), np.zeros((1, 3))
    ref = autodiff_backward(params, X, Y, spec)
    [(_, eb1), (_, eb2)] = backprop_error_bound(ref, params, Y, spec, np.float64)
    u = np.finfo(np.float64).eps
    assert eb2 == pytest.approx(np.full(3, 20 * u), rel=1e-9, abs=0)
    assert eb1 == pytest.approx([72 * u], rel=1e-9, abs=0)


@pytest.mark.parametrize(("first", "x"), [("relu", 1.0), ("sigmoid", 0.0)])
def test_a_relu_at_zero_by_cancellation_may_take_either_slope(first, x):
    # z^(2) = a_1 - a_2 = 0 from two equal nonzero units of layer 1 (relu at 0.5, or sigmoid at
    # z = 0 exactly, which gives 0.5 and not 0): it is 0 by cancellation, not by structure, so
    # another computation may land on either side of relu's corner. The bound of b^(2) must
    # then hold the jump, |∂R/∂a^(2)| relu's slopes 0 and 1 apart: 1 here (R = h = a^(2)).
    from reference.autodiff import autodiff_backward
    from reference.compare import backprop_error_bound
    from reference.spec import Spec

    spec = Spec((1, 2, 1, 1), (first, "relu", "identity"), "output")
    W1 = np.array([[0.5, 0.5]]) if first == "relu" else np.ones((1, 2))
    params = [(W1, np.zeros(2)), (np.array([[1.0], [-1.0]]), np.zeros(1)), (np.ones((1, 1)), [0.0])]
    X, Y = np.array([[x]]), np.zeros((1, 1))
    ref = autodiff_backward(params, X, Y, spec)
    assert ref.Z[2].tolist() == [[0.0]]
    assert ref.A[1].tolist() == [[0.5, 0.5]]
    _, (_, eb2), _ = backprop_error_bound(ref, params, Y, spec, np.float64)
    assert eb2[0] >= 1.0


U = np.finfo(np.float64).eps


@pytest.mark.parametrize(
    ("activation", "w", "loss", "expected"),
    [
        # z = h = -2 (x = 1, b = 0, y = 0): e(z) = γ_2 |z| = 4 u, the identity's secant is 1, so
        # e(h) = 4 u + 4 u |h| = 12 u. The loss h² is sampled a step s = √u max(|h|, 1) = 2^-25
        # to each side, exactly: the side away from 0 rises by 4 + s per unit, the other 4 - s;
        # the steeper one counts: (4 + 2^-25) 12 u
        ("identity", -2.0, "square", (4 + 2.0**-25) * 12 * U),
        # z = h = 0.5: e(z) = u, e(h) = u + 2 u = 3 u; s = √u max(0.5, 1) = 2^-26 and h² rises by
        # 1 + s per unit on the steeper side: (1 + 2^-26) 3 u
        ("identity", 0.5, "square", (1 + 2.0**-26) * 3 * U),
        # z = -1.5 2^-26, just below leaky_relu's corner: s = √u = 2^-26 keeps both sides of the
        # secant below it, slope 0.01: e(h) = 0.01 γ_2 |z| + 4 u |h| = (0.03 + 0.06) u 2^-26 (a
        # step twice as long would cross the corner and make the slope 0.2575); the loss h has
        # slope 1
        ("leaky_relu", -1.5 * 2.0**-26, "output", 0.09 * U * 2.0**-26),
    ],
)
def test_the_finite_differences_floor_on_one_unit_derived_by_hand(activation, w, loss, expected):
    from reference.fd_rounding import forward_error, forward_prefix
    from reference.spec import Spec

    spec = Spec((1, 1), (activation,), loss)
    params = [(np.array([[w]]), np.zeros(1))]
    X, Y = np.ones((1, 1)), np.zeros((1, 1))
    A, Z = forward_prefix(params, X, spec.activations)
    assert forward_error(params, A, Z, Y, spec) == pytest.approx(expected, rel=1e-12, abs=0)


def test_the_softmax_risk_magnitude_per_example_then_averaged():
    # H = [[0, 1], [2, -1]], Y = [[1, 0], [0.5, 0.5]]: per example, ℓ + Σ|h y| + Σ|y| (n_L +
    # spread + max|h|). Example 1: ℓ = lse(0, 1) = 1 + log(1 + e^-1), Σ|h y| = 0, Σ|y| = 1,
    # spread 1, max|h| 1: ℓ + 4. Example 2: ℓ = lse(2, -1) - (0.5 * 2 + 0.5 * -1) =
    # 1.5 + log(1 + e^-3), Σ|h y| = 1.5, spread 3, max|h| 2: ℓ + 1.5 + 7. Their mean
    from reference.fd_rounding import risk_magnitude

    H, Y = np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([[1.0, 0.0], [0.5, 0.5]])
    expected = (15.0 + math.log1p(math.exp(-1.0)) + math.log1p(math.exp(-3.0))) / 2
    assert risk_magnitude(H, Y, "softmax_cross_entropy") == pytest.approx(
        expected, rel=1e-14, abs=0
    )


def test_the_candidates_own_bound_widens_both_edges_twice():
    fd = _fd(WITNESS)
    bounds = [(np.full((1, 5), 0.25), np.array([0.125]))]  # twice: 0.5 on W, 0.25 on b
    inside = _candidate([2.0, -4.5, 0.0, 0.0, 5.5, 3.25])
    assert compare_to_fd(inside, fd, bounds).ok
    outside = _candidate([2.0, -4.5, 0.0, 0.0, 5.5, 3.5])
    [wrong] = compare_to_fd(outside, fd, bounds).mismatches
    assert (wrong.param, wrong.bad_entries) == ("b", [(0,)])
    W, b = compare_to_fd(_candidate([2.5, -4.5, 0.0, 0.0, 5.0, 3.5]), fd, bounds).params
    assert (W.bad_entries, b.bad_entries) == ([(0, 0)], [(0,)])
    ratios, half_widths = W.ratios(), W.tolerances()
    assert ratios[0, :2].tolist() == [1.5 / 1.0, 2.5 / 2.5]  # [0, 2] and [-4.5, 0.5]
    assert half_widths[0, 4] == 0.5  # the point 5 widened to [4.5, 5.5]
    assert compare_to_fd(inside, fd).message().startswith("against finite differences: ")
    assert compare_to_fd(inside, fd, witness="x").witness == "x"


def _autodiff(grads):
    return AutodiffPass(grads=grads, Z=None, A=None, g_prime=None, dZ=None, dA=None, risk=None)


def test_the_autodiff_tolerance_is_twice_the_bound_plus_the_smallest_normal():
    witness = [(np.array([[1.0, 0.0, -2.0]]), np.array([0.0]))]
    bounds = [(np.array([[0.25, 0.0, 0.5]]), np.array([0.0]))]
    ref = _autodiff(witness)

    def verdict(candidate):
        return compare_to_autodiff(candidate, ref, None, None, None, np.float64, bounds)

    edges = [(np.array([[1.5, TINY, -3.0]]), np.array([-TINY]))]
    assert verdict(edges).ok
    W, _ = verdict(edges).params
    ratios, tolerance = W.ratios(), W.tolerances()
    assert tolerance.tolist() == [[0.5, TINY, 1.0]]  # 2 e + t: 0.5 + t rounds to 0.5
    assert ratios.tolist() == [[1.0, 1.0, 1.0]]
    for entry, value in [(0, 1.5000000000000002), (1, 2 * TINY), (2, -3.0000000000000004)]:
        W_moved = edges[0][0].copy()
        W_moved[0, entry] = value
        [wrong] = verdict([(W_moved, edges[0][1])]).mismatches
        assert wrong.bad_entries == [(0, entry)]
    assert not verdict([(edges[0][0], np.array([-2 * TINY]))]).ok
    assert not verdict([(np.array([[np.nan, 0.0, -2.0]]), np.array([0.0]))]).ok
    assert verdict([(edges[0][0].astype(np.float32), edges[0][1])]).problems  # precision lost


def test_the_summary_of_one_parameter():
    candidate = np.array([[1.0, 3.0, 0.0], [0.0, -1.0, 8.0]])
    witness = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
    ratio = np.array([[0.0, 0.5, 0.0], [0.0, np.nan, 0.25]])

    def comparison(ratio=ratio):
        return ParamComparison(
            2, "W", candidate, witness, ratio != 0, lambda: (ratio, ratio * 4 + 1)
        )

    p = comparison()
    # the NaN ratio ranks first (as inf): entry (1, 1), candidate -1 against witness 0
    assert (p.worst_entry, p.worst_ratio) == ((1, 1), INF)
    assert (p.candidate_value, p.witness_value, p.max_rel_error) == (-1.0, 0.0, INF)
    assert math.isnan(p.tolerance)
    assert p.max_abs_error == 4.0  # |8 - 4|, the largest difference anywhere
    assert p.bad_entries == [(0, 1), (1, 1), (1, 2)]
    assert not p.ok
    finite = comparison(np.array([[0.0, 0.5, 0.0], [0.0, 0.125, 0.25]]))
    assert (finite.worst_entry, finite.worst_ratio, finite.tolerance) == ((0, 1), 0.5, 3.0)
    assert finite.max_rel_error == 0.5  # |3 - 2| / |2|
    agreeing = ParamComparison(
        1, "b", witness[0], witness[0], np.zeros(3, bool), lambda: (np.zeros(3), np.ones(3))
    )
    assert agreeing.ok
    assert (agreeing.max_rel_error, agreeing.max_abs_error) == (0.0, 0.0)
    assert agreeing.describe() == (
        "layer 1, b[0] (b^(1)_1): candidate 1 vs witness 1, |diff| 0 (tolerance 1), ok"
    )
    assert p.describe().endswith("|diff| 4 (tolerance nan), 3 entries wrong")
    empty = ParamComparison(
        1, "W", np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2), bool), lambda: None
    )
    assert empty.describe() == "layer 1, W: empty"
    assert (empty.max_abs_error, empty.worst_ratio, empty.bad_entries) == (0.0, 0.0, [])
    nan_only = ParamComparison(
        1,
        "b",
        np.array([np.nan]),
        np.array([1.0]),
        np.ones(1, bool),
        lambda: (np.array([np.nan]), np.ones(1)),
    )
    assert math.isnan(nan_only.max_abs_error)


# ∂R/∂H's bound for one example (n = 1) and one output, u = 2^-52, t = 2^-1022 (compare.py):
#   (λ e(H) + 8 u (|D| + |y| + |H|) + 2 f(y) + 4 t) + u |D| + t, λ the loss's Lipschitz constant
#   in H: 0 for output, 2 for square (ℓ' = 2 (H - y)), 1/4 for logistic (σ(H) - y), 2 Σ|y| times
#   the largest e(H) for softmax cross-entropy. With n = 2 examples everything but the last u |D|
#   + t is halved (the mean's 1/n), D standing for ∂R/∂H = ℓ'/n.
U, T = 2.0**-52, 2.0**-1022


@pytest.mark.parametrize(
    ("loss", "lipschitz"), [("output", 0.0), ("square", 2.0), ("logistic", 0.25)]
)
def test_the_loss_derivative_bound_per_loss(loss, lipschitz):
    H, Y, D, eH = (np.array([[v]]) for v in (3.0, 1.0, 4.0, 2.0**-20))
    got = _loss_derivative_error(loss, H, Y, D, eH, U, T)
    want = lipschitz * 2.0**-20 + 8 * U * (4 + 1 + 3) + 4 * T + U * 4 + T
    assert float(got[0, 0]) == pytest.approx(want, rel=1e-12, abs=0)
    # two examples: D is ℓ'/2, its terms are |D| n + |y| + |H|
    H2, Y2, D2, eH2 = (np.array([[v], [v]]) for v in (3.0, 1.0, 2.0, 2.0**-20))
    got = _loss_derivative_error(loss, H2, Y2, D2, eH2, U, T)
    want = (lipschitz * 2.0**-20 + 8 * U * (4 + 1 + 3) + 4 * T) / 2 + U * 2 + T
    assert got[:, 0].tolist() == pytest.approx([want, want], rel=1e-12, abs=0)


def test_the_softmax_loss_derivative_bound_takes_the_targets_sum_and_the_largest_error():
    H = np.array([[1.0, 2.0, 0.5]])
    Y = np.array([[0.5, 0.25, 0.25]])  # Σ|y| = 1
    D = np.array([[0.125, -0.25, 0.0]])
    eH = np.array([[2.0**-30, 2.0**-20, 2.0**-40]])
    got = _loss_derivative_error("softmax_cross_entropy", H, Y, D, eH, U, T)
    terms = np.abs(D) + np.abs(Y) + np.abs(H)
    want = 2 * 1.0 * 2.0**-20 + 8 * U * terms + 4 * T + U * np.abs(D) + T
    assert got[0].tolist() == pytest.approx(want[0].tolist(), rel=1e-12, abs=0)
    doubled = _loss_derivative_error("softmax_cross_entropy", H, 2 * Y, D, eH, U, T)
    assert float(doubled[0, 0] - got[0, 0]) == pytest.approx(
        2 * 2.0**-20 + 8 * U * 0.5, rel=1e-12, abs=0
    )


def test_a_subnormal_target_may_be_read_as_0():
    H, D, eH = np.array([[0.0]]), np.array([[0.0]]), np.array([[0.0]])
    sub = _loss_derivative_error("output", H, np.array([[3e-310]]), D, eH, U, T)
    normal = _loss_derivative_error("output", H, np.array([[3e-300]]), D, eH, U, T)
    assert float(sub[0, 0]) == pytest.approx(2 * 3e-310 + 8 * U * 3e-310 + 5 * T, rel=1e-12, abs=0)
    assert float(normal[0, 0]) == pytest.approx(8 * U * 3e-300 + 5 * T, rel=1e-12, abs=0)


def test_the_described_entry_takes_commas_from_the_arrays_shape():
    candidate = np.zeros((10, 2))
    candidate[0, 1] = 1.0
    p = ParamComparison(
        3, "W", candidate, np.zeros((10, 2)), candidate != 0, lambda: (candidate, np.ones((10, 2)))
    )
    assert p.describe().startswith("layer 3, W[0, 1] (W^(3)_1,2): candidate 1 vs witness 0")


def test_a_lower_precision_result_is_named_for_each_parameter_and_the_inputs_dtype():
    from reference.compare import _dtype_problems

    pairs = [(np.zeros((1, 1), np.float32), np.zeros(1, np.float16))]
    assert _dtype_problems(pairs, np.float32) == [
        "layer 1, b: returned float16 for float32 inputs; precision was lost."
    ]


def test_an_overflowing_or_undefined_ratio_is_a_verdict_not_a_warning():
    # ratios under warnings-as-errors: 1e300 over the smallest normal number overflows to inf,
    # inf over an infinite tolerance (a bound that overflowed) is undefined, NaN
    witness = [(np.array([[0.0, 1.0]]), np.array([0.0]))]
    bounds = [(np.array([[0.0, np.inf]]), np.array([0.0]))]
    candidate = [(np.array([[1e300, np.inf]]), np.array([0.0]))]
    result = compare_to_autodiff(candidate, _autodiff(witness), None, None, None, float, bounds)
    W, _ = result.params
    ratios, _ = W._measure()
    assert ratios[0, 0] == INF
    assert math.isnan(ratios[0, 1])
    assert W.bad_entries == [(0, 0)]  # inf is within an infinite tolerance


def test_an_infinite_candidate_bound_accepts_everything_without_a_warning():
    # a bound that overflowed widens the interval to everything: the entry passes, its ratio
    # is 0 (as where the witness abstains), and no warning comes of the undefined centre
    fd = _fd({"smooth": WITNESS["smooth"], "b": WITNESS["b"]})
    bounds = [(np.array([[np.inf]]), np.array([0.0]))]
    result = compare_to_fd(_candidate([7.0, 2.0]), fd, bounds)
    assert result.ok
    assert result.params[0].ratios().tolist() == [[0.0]]
    assert result.params[0].worst_ratio == 0.0


def test_the_softmax_loss_derivative_bound_is_per_example():
    # two examples, each its own Σ|y| and largest e(H): example 1 has Σ|y| = 1 and max e(H) =
    # 2^-20, example 2 Σ|y| = 2 and max e(H) = 2^-30. Each row's Lipschitz term is 2 Σ|y| max e(H)
    # of its own example, over n = 2
    H = np.zeros((2, 3))
    Y = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 1.0]])
    D = np.zeros((2, 3))
    eH = np.array([[2.0**-20, 0.0, 0.0], [0.0, 2.0**-30, 0.0]])
    got = _loss_derivative_error("softmax_cross_entropy", H, Y, D, eH, U, T)
    rounding = (8 * U * np.abs(Y) + 4 * T) / 2 + T
    want = np.array([[2 * 1 * 2.0**-20] * 3, [2 * 2 * 2.0**-30] * 3]) / 2 + rounding
    assert got.ravel().tolist() == pytest.approx(want.ravel().tolist(), rel=1e-12, abs=0)


def test_each_layers_kink_and_abstention_counts_are_its_own():
    # two layers: layer 1 with one kink entry in W, layer 2 with two in W and one abstaining b
    one = _fd(
        {"w1": (1.0, 0.0, 2.0, True, False, True), "b1": (0.0, -1.0, 1.0, False, False, True)}
    )
    two = _fd(
        {
            "w1": (1.0, 0.0, 2.0, True, False, True),
            "w2": (1.0, 0.0, 2.0, True, False, True),
            "b": (0.0, -INF, INF, True, True, True),
        }
    )
    both = FiniteDifferences(*(a + b for a, b in zip(one, two, strict=True)))
    candidate = _candidate([1.0, 0.0]) + _candidate([1.0, 1.0, 0.0])
    comparison = compare_to_fd(candidate, both)
    counts = [(p.layer, p.param, p.kink_entries, p.unresolved_entries) for p in comparison.params]
    assert counts == [(1, "W", 1, 0), (1, "b", 0, 0), (2, "W", 2, 0), (2, "b", 1, 1)]
