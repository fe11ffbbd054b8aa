r"""Every tolerance pinned from both sides: an error planted at 3x an entry's tolerance fails there
and only there, one at 0.3x passes; and each tolerance stays within a stated constant of the
error it is meant to bound, so that a bound grown loose (or a term of it) fails a test too.

The rounding error actually made is measured against the same pass in extended precision
(NumPy's longdouble, 64-bit mantissa here): manual/'s formulas are right (the lecture tests and
the three-way checks show it), so the difference is rounding alone.
"""

from __future__ import annotations

import numpy as np
import pytest

import manual
from reference import Spec
from reference.autodiff import autodiff_backward
from reference.compare import backprop_error_bound, compare_to_autodiff, compare_to_fd
from reference.directional import directional_check
from reference.fd import finite_differences

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus")
#: The least median, over 12 random cases, of the worst entry's actual float64 rounding error
#: over its bound. Measured: 3.0e-3 to 1.9e-2 for the square and output losses, 1.1e-3 to 5.7e-3
#: for logistic, 7.5e-5 to 2.3e-3 for softmax cross-entropy (whose bound charges the softmax's
#: worst case); each floor sits about 3x below the least of them. A bound 10x looser in total, or
#: 100x in one of its terms, falls below.
TIGHTNESS_FLOOR = {
    "square": 1e-3,
    "output": 1e-3,
    "logistic": 3e-4,
    "softmax_cross_entropy": 2.5e-5,
}


def _random_case(rng, spec, n=6):
    params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in spec.shapes()]
    X = 2 * rng.normal(size=(n, spec.widths[0]))
    Y = rng.uniform(0, 1, size=(n, spec.widths[-1]))
    return params, X, Y


def _extended(params, X, Y, spec):
    ld = np.longdouble
    return manual.gradients(
        [(W.astype(ld), b.astype(ld)) for W, b in params], X.astype(ld), Y.astype(ld), spec
    )


def _worst_ratio(candidate, exact, bounds):
    return max(
        float(np.max(np.abs(c.astype(np.longdouble) - w) / e))
        for pc, pw, pb in zip(candidate, exact, bounds, strict=True)
        for c, w, e in zip(pc, pw, pb, strict=True)
    )


@pytest.mark.parametrize("loss", sorted(TIGHTNESS_FLOOR))
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_the_float64_bound_is_sound_and_within_a_stated_factor(name, loss):
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        pytest.skip("longdouble is float64 on this platform: no extended precision")
    rng = np.random.default_rng(0)
    output = name if loss == "output" else "identity"
    spec = Spec((5, 7, 7, 3), (name, name, output), loss)
    ratios = []
    for _ in range(12):
        params, X, Y = _random_case(rng, spec)
        bounds = backprop_error_bound(autodiff_backward(params, X, Y, spec), params, Y, spec, float)
        ratios.append(
            _worst_ratio(
                manual.gradients(params, X, Y, spec), _extended(params, X, Y, spec), bounds
            )
        )
    assert max(ratios) <= 1.0  # sound: no entry's error exceeds its bound
    assert np.median(ratios) >= TIGHTNESS_FLOOR[loss], ratios  # and not loose


def _saturated():
    spec = Spec((3, 4, 2), ("sigmoid", "identity"), "square")
    rng = np.random.default_rng(1)
    params, X, Y = _random_case(rng, spec, n=4)
    return spec, [(30 * params[0][0], params[0][1]), params[1]], X, Y


def _cancelling():
    # z^(1)_1 = 1e8 x_1 - 1e8 x_2 + ..., with x_1 = x_2 + 1e-9: the terms cancel to about 0.1
    spec = Spec((3, 2, 1), ("tanh", "identity"), "square")
    W1 = np.array([[1e8, 0.5], [-1e8, 0.25], [0.3, -1.0]])
    params = [(W1, np.array([0.1, -0.2])), (np.array([[1.5], [-0.5]]), np.array([0.0]))]
    X = np.array([[1.0 + 1e-9, 1.0, 0.5], [2.0, 2.0 - 3e-9, -0.5]])
    return spec, params, X, np.array([[0.2], [-0.1]])


def _subnormal():
    spec = Spec((2, 3, 1), ("softplus", "identity"), "square")
    rng = np.random.default_rng(2)
    params, X, Y = _random_case(rng, spec, n=3)
    W1 = params[0][0].copy()
    W1[0, :] = [3e-310, -1e-315, 5e-320]  # subnormal weights
    return spec, [(W1, params[0][1]), params[1]], X, Y


def _computed_kink():
    # z^(1)_1 = 0.1 + 0.2 - 0.3 = 5.55e-17 in float64, 0 in exact arithmetic: a relu
    # pre-activation within rounding of its kink, computed, not planted
    spec = Spec((2, 2, 1), ("relu", "identity"), "square")
    W1 = np.array([[1.0, 0.5], [1.0, -2.0]])
    params = [(W1, np.array([-0.3, 0.1])), (np.array([[2.0], [-1.0]]), np.array([0.25]))]
    X = np.array([[0.1, 0.2], [1.0, 0.5]])
    return spec, params, X, np.array([[1.0], [0.0]])


SPECIAL = {
    "saturated": _saturated,
    "cancelling": _cancelling,
    "subnormal": _subnormal,
    "computed kink": _computed_kink,
}


def _planted(grads, layer, param, index, amount):
    out = [(np.array(W, dtype=float), np.array(b, dtype=float)) for W, b in grads]
    out[layer][param][index] += amount
    return out


@pytest.mark.parametrize("case", sorted(SPECIAL))
def test_an_error_of_3_tolerances_fails_where_planted_and_of_0_3_passes(case):
    spec, params, X, Y = SPECIAL[case]()
    ref = autodiff_backward(params, X, Y, spec)
    bounds = backprop_error_bound(ref, params, Y, spec, np.float64)
    ours = manual.gradients(params, X, Y, spec)
    assert compare_to_autodiff(ours, ref, params, Y, spec, np.float64, bounds).ok  # no alarm
    tiny = np.finfo(np.float64).tiny
    for layer in range(spec.depth):
        for param in (0, 1):
            e = bounds[layer][param]
            index = np.unravel_index(int(np.argmax(np.abs(ref.grads[layer][param]))), e.shape)
            tolerance = 2 * e[index] + tiny
            far = _planted(ref.grads, layer, param, index, 3 * tolerance)
            near = _planted(ref.grads, layer, param, index, 0.3 * tolerance)
            verdict = compare_to_autodiff(far, ref, params, Y, spec, np.float64, bounds)
            assert [(p.layer, p.param) for p in verdict.mismatches] == [(layer + 1, "Wb"[param])]
            assert verdict.mismatches[0].bad_entries == [tuple(int(i) for i in index)]
            assert compare_to_autodiff(near, ref, params, Y, spec, np.float64, bounds).ok


def test_either_side_of_a_computed_kink_is_accepted():
    """relu'(5.55e-17) is 1 here and would be 0 in a computation that rounds z^(1)_1 to -1e-17:
    both gradients are correct, and the kink allowance must take both."""
    spec, params, X, Y = _computed_kink()
    ref = autodiff_backward(params, X, Y, spec)
    assert 0 < ref.Z[1][0, 0] < 1e-16
    bounds = backprop_error_bound(ref, params, Y, spec, np.float64)
    # the other side: g'(z^(1)_1) = 0 for example 1 instead of 1 (by hand: the unit's share of
    # ∂R/∂W^(1)_i1 and ∂R/∂b^(1)_1 from example 1, x_i δ, is dropped)
    delta = ref.dZ[1][0, 0]
    assert delta != 0
    other = [(np.array(W), np.array(b)) for W, b in ref.grads]
    other[0][0][:, 0] -= X[0] * delta
    other[0][1][0] -= delta
    assert compare_to_autodiff(other, ref, params, Y, spec, np.float64, bounds).ok
    # a jump of g' anywhere else is no kink: the same change at z^(1)_2 (= -0.7) fails
    wrong = [(np.array(W), np.array(b)) for W, b in ref.grads]
    wrong[0][1][1] += ref.dA[1][0, 1]
    assert not compare_to_autodiff(wrong, ref, params, Y, spec, np.float64, bounds).ok


def _fd_case(name, seed):
    rng = np.random.default_rng(seed)
    spec = Spec((3, 4, 2), (name, "identity"), "square")
    params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in spec.shapes()]
    return spec, params, rng.normal(size=(4, 3)), rng.normal(size=(4, 2))


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "relu", "identity"])
def test_the_finite_difference_estimate_is_sound_and_within_a_stated_factor(name):
    """Measured over 8 cases: the estimate is at most 1e-9 of the largest gradient entry, and the
    worst actual error is 0.5-1.4% of the worst estimate (median). The floors sit 10x beyond."""
    judged, ratios = 0, []
    for seed in range(8):
        spec, params, X, Y = _fd_case(name, seed)
        fd = finite_differences(params, X, Y, spec)
        ref = autodiff_backward(params, X, Y, spec)
        scale = max(float(np.abs(g).max()) for pair in ref.grads for g in pair)
        worst_estimate = worst_error = 0.0
        for k in range(spec.depth):
            for p in (0, 1):
                smooth = ~fd.unresolved[k][p] & ~fd.kink[k][p]
                judged += int(smooth.sum())
                error = np.abs(fd.gradients[k][p] - ref.grads[k][p])[smooth]
                assert np.all(error <= fd.error[k][p][smooth])  # sound
                worst_estimate = max(worst_estimate, float(fd.error[k][p][smooth].max(initial=0)))
                worst_error = max(worst_error, float(error.max(initial=0)))
        assert worst_estimate <= 1e-8 * scale
        ratios.append(worst_error / worst_estimate)
    assert judged > 8 * 20  # nearly every entry of the 26 per case was judged
    assert np.median(ratios) >= 5e-4, ratios


@pytest.mark.parametrize("name", ["tanh", "relu"])
def test_an_error_of_3_estimates_fails_against_finite_differences(name):
    spec, params, X, Y = _fd_case(name, 0)
    fd = finite_differences(params, X, Y, spec)
    for layer in range(spec.depth):
        for param in (0, 1):
            half = (fd.upper[layer][param] - fd.lower[layer][param]) / 2
            centre = (fd.upper[layer][param] + fd.lower[layer][param]) / 2
            index = np.unravel_index(int(np.argmax(half)), half.shape)
            assert not fd.unresolved[layer][param][index]
            base = [(c.copy(), d.copy()) for c, d in fd.gradients]
            base[layer] = (base[layer][0].copy(), base[layer][1].copy())
            base[layer][param][...] = centre
            far = _planted(base, layer, param, index, 3 * half[index])
            near = _planted(base, layer, param, index, 0.3 * half[index])
            verdict = compare_to_fd(far, fd)
            assert [(p.layer, p.param) for p in verdict.mismatches] == [(layer + 1, "Wb"[param])]
            assert verdict.mismatches[0].bad_entries == [tuple(int(i) for i in index)]
            assert compare_to_fd(near, fd).ok


def test_a_kink_entry_is_judged_by_its_one_sided_interval():
    """relu with z^(1)_1 = 1e-9 for example 1: every stencil step of W^(1)_11 (h about 1e-3)
    crosses the kink, so that entry is judged by its one-sided differences, whose interval holds
    both slopes: by hand, ∂R/∂W^(1)_11 from the right is x_11 δ + (rest), from the left (rest)."""
    spec = Spec((1, 1, 1), ("relu", "identity"), "square")
    params = [(np.array([[1.0]]), np.array([1e-9 - 1.0])), (np.array([[2.0]]), np.array([0.0]))]
    X, Y = np.array([[1.0]]), np.array([[1.0]])
    fd = finite_differences(params, X, Y, spec)
    assert fd.kink[0][0][0, 0]
    assert not fd.unresolved[0][0][0, 0]
    # by hand: H = 2 relu(z), z = W x + b; right of the kink R = (2z - 1)^2, ∂R/∂W = 4(2z - 1) x
    # = -4 (z ≈ 0); left of it R = 1, ∂R/∂W = 0. The interval must hold both, and little more.
    low, high = fd.lower[0][0][0, 0], fd.upper[0][0][0, 0]
    assert low <= -4
    assert high >= 0
    half = (high - low) / 2
    assert half <= 2 * 1.01  # both slopes plus their errors: the interval is not wider
    centre = (high + low) / 2
    candidate = [(np.array([[centre]]), np.array([0.0])), (np.array([[0.0]]), np.array([0.0]))]
    for k in range(2):
        for p in (0, 1):
            if (k, p) != (0, 0):
                candidate[k][p][...] = fd.gradients[k][p]
    far = _planted(candidate, 0, 0, (0, 0), 3 * half)
    near = _planted(candidate, 0, 0, (0, 0), 0.3 * half)
    assert compare_to_fd(far, fd).mismatches[0].bad_entries == [(0, 0)]
    assert compare_to_fd(near, fd).ok


def test_the_directional_tolerance_from_both_sides():
    spec = Spec((4, 6, 2), ("tanh", "identity"), "square")
    rng = np.random.default_rng(4)
    params, X, Y = _random_case(rng, spec, n=5)
    truth = manual.gradients(params, X, Y, spec)
    right = directional_check(manual.gradients, params, X, Y, spec, directions=1)
    assert right.ok
    # the direction's component along W^(1)_11, from the change a unit error makes
    probe = directional_check(
        lambda *a: _planted(truth, 0, 0, (0, 0), 1.0), params, X, Y, spec, directions=1
    )
    v = float(probe.projected[0] - right.projected[0])
    for factor, ok in ((3.0, False), (0.3, True)):
        amount = factor * float(right.tolerance[0]) / abs(v)
        planted = directional_check(
            lambda *a, amount=amount: _planted(truth, 0, 0, (0, 0), amount),
            params,
            X,
            Y,
            spec,
            directions=1,
        )
        assert planted.ok is ok


def test_a_step_outside_the_asymptotic_regime_is_retried_until_it_is_inside():
    """tanh(32000 tanh(W x - 1)) at W x = 1: the first step (2^-10) moves z^(2) by about 31,
    h/16 by about 2, both far outside the regime where D(h) - D(h/2) = 4 (D(h/2) - D(h/4));
    h/256 moves it by 0.12 and is accepted. By hand, ∂R/∂W^(1)_11 = 2 (H - y) g'(z^(2)) W^(2)
    g'(z^(1)) x = 2 (0 - 0.3) * 1 * 32000 * 1 * 1 = -19200 (z^(1) = z^(2) = 0, H = 0)."""
    spec = Spec((1, 1, 1, 1), ("tanh", "tanh", "identity"), "square")
    params = [
        (np.array([[1.0]]), np.array([-1.0])),
        (np.array([[32000.0]]), np.array([0.0])),
        (np.array([[1.0]]), np.array([0.0])),
    ]
    X, Y = np.array([[1.0]]), np.array([[0.3]])
    fd = finite_differences(params, X, Y, spec)
    assert fd.step[0][0][0, 0] == 2.0**-10 / 16**2  # two retries, no more
    assert not fd.unresolved[0][0][0, 0]
    assert abs(fd.gradients[0][0][0, 0] - -19200.0) <= fd.error[0][0][0, 0]
    assert fd.error[0][0][0, 0] <= 1e-4 * 19200
