r"""Every tolerance pinned from both sides: an error planted at 3x an entry's tolerance fails there
and only there, one at 0.3x passes; and each tolerance stays within a stated constant of the
error it is meant to bound, so that a bound grown loose (or a term of it) fails a test too.

The rounding error actually made is measured against the same pass in extended precision
(NumPy's longdouble, 64-bit mantissa here): manual/'s formulas are right (the lecture tests and
the three-way checks show it), so the difference is rounding alone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import manual
from reference import Spec
from reference.autodiff import AutodiffPass, autodiff_backward
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


SMALL_SPECS = [
    Spec((4, 6, 2), ("tanh", "identity"), "square"),
    Spec((3, 5, 4, 3), ("sigmoid", "softplus", "identity"), "softmax_cross_entropy"),
    Spec((5, 8, 1), ("tanh", "identity"), "logistic"),
    Spec((2, 3, 3, 2), ("softplus", "tanh", "sigmoid"), "output"),
    Spec((4, 6, 2), ("relu", "identity"), "output"),
]


@pytest.mark.parametrize("spec", SMALL_SPECS, ids=lambda s: "-".join(s.activations) + "-" + s.loss)
def test_the_directional_tolerance_is_below_a_billionth_of_the_gradient(spec):
    # The tolerance is a worst-case rounding bound (the risk's rounding over the step, about
    # u / u^(1/5) relative) plus the Richardson difference; on small networks of moderate values
    # it comes to about 1e-10 of |∇R|, so a tolerance grown tenfold crosses 1e-9 |∇R|.
    params, X, Y = _random_case(np.random.default_rng(4), spec, n=5)
    truth = manual.gradients(params, X, Y, spec)
    norm = float(np.sqrt(sum(float((a**2).sum()) for pair in truth for a in pair)))
    result = directional_check(manual.gradients, params, X, Y, spec, directions=3)
    assert result.ok
    assert np.all(result.tolerance <= 1e-9 * norm), result.tolerance / norm


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


@pytest.mark.parametrize(("scale", "resolved"), [(1.5e6, True), (3e6, False)])
def test_an_entry_is_retried_three_times_and_no_more(scale, resolved):
    """The network above with 1.5e6 or 3e6 in place of 32000: the steps 2^-10, 2^-14 and 2^-18
    move z^(2) by 1.5e6 h (at least 5.7) and never behave; 2^-22 moves it by 0.36 and behaves
    for 1.5e6, while for 3e6 (0.72) it does not, and the entry is left unresolved at the
    third retry's step. ∂R/∂W^(1)_11 = 2 (0 - 0.3) x scale, as above."""
    spec = Spec((1, 1, 1, 1), ("tanh", "tanh", "identity"), "square")
    params = [
        (np.array([[1.0]]), np.array([-1.0])),
        (np.array([[scale]]), np.array([0.0])),
        (np.array([[1.0]]), np.array([0.0])),
    ]
    fd = finite_differences(params, np.array([[1.0]]), np.array([[0.3]]), spec)
    assert fd.step[0][0][0, 0] == 2.0**-22  # 2^-10 / 16^3: three retries
    assert bool(fd.unresolved[0][0][0, 0]) is not resolved
    if resolved:
        assert abs(fd.gradients[0][0][0, 0] - -0.6 * scale) <= fd.error[0][0][0, 0]


# The float64 bound on a chain of single units (one example, every width 1), the recurrences of
# reference/compare.py's docstring written out for scalars, with u = 2^-52, t = 2^-1022:
#   forward, a sum of the product and the bias (k = 2 terms):
#     e(z) = γ_2 (|a| + e(a)) |w| + γ_2 |b| + 2t + e(a) |w| + (|a| + e(a)) f(w) + f(b), where
#     f(v) = |v| if v is subnormal (it may be read as 0), else 0; e(x) = f(x)
#     e(g') = c_g e(z) + (4 + 4 s_g) u for sigmoid, tanh and softplus (c_g = max |g''|); 0 for
#             piecewise-linear g, whose g' is exact, except at a z within e(z) of a kink: the
#             jump of g' there, 1 for relu, 0.99 for leaky_relu
#     e(a') = (|g'| + e(g')) e(z) + 4u (|a'| + s_g) + t
#   the loss derivative D = ℓ'(a_L, y), its terms |D| + |y| + |a_L|:
#     e(D) = λ e(a_L) + 8u (|D| + |y| + |a_L|) + 2 f(y) + 4t + u |D| + t, λ its Lipschitz
#     constant in H
#     (2 square, 1/4 logistic, 2 |y| softmax, 0 output)
#   backward, formula 1 a sum of one term: e(∂R/∂a) = γ_1 (|δ'| + e(δ')) |w'| + t + e(δ') |w'|;
#   formula 2: e(δ) = e(∂R/∂a) (|g'| + e(g')) + |∂R/∂a| e(g') + u |δ| + t;
#   formulas 3-4, sums of n + 1 = 2 terms: e(∂R/∂w) = γ_2 |a| (|δ| + e(δ)) + 2t + e(a) (|δ| +
#   e(δ)) + |a| e(δ), e(∂R/∂b) = γ_2 (|δ| + e(δ)) + e(δ) + 2t.
# Every constant of the bound changes one of these numbers well beyond the 1e-9 compared.
def _sigmoid(z):
    return 1 / (1 + math.exp(-z))


SCALAR = {  # g, g', max |g''|, s_g
    "identity": (lambda z: z, lambda z: 1.0, 0.0, 0.0),
    "relu": (lambda z: max(z, 0.0), lambda z: float(z > 0), 0.0, 0.0),
    # g'(0) as the contract has it: relu'(0) = 0, leaky_relu'(0) = 1
    "leaky_relu": (lambda z: z if z > 0 else 0.01 * z, lambda z: 1.0 if z >= 0 else 0.01, 0.0, 0.0),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z)), 0.0963, 1.0),
    "tanh": (math.tanh, lambda z: 1 - math.tanh(z) ** 2, 0.770, 1.0),
    "softplus": (lambda z: math.log1p(math.exp(z)), _sigmoid, 0.25, 1.0),
}
LOSS_DERIVATIVE = {  # ℓ'(a, y) and its Lipschitz constant in a
    "square": (lambda a, y: 2 * (a - y), lambda y: 2.0),
    "output": (lambda a, y: 1.0, lambda y: 0.0),
    "logistic": (lambda a, y: _sigmoid(a) - y, lambda y: 0.25),
    "softmax_cross_entropy": (lambda a, y: 0.0, lambda y: 2 * abs(y)),  # one output: softmax = 1
}
JUMP = {"relu": 1.0, "leaky_relu": 0.99}


def _chain(names, loss, x, ws, bs, y, *, precision="standard", dtype=np.float64):
    """The chain's forward and backward values in exact IEEE float64, and its bound's entries
    for a pass in ``dtype`` (u = 2^-23, t = 2^-126 for float32) under ``precision`` (strict:
    s_g = 0, every activation value accurate relatively, g' still within 4u absolutely)."""
    u, t = (2.0**-52, 2.0**-1022) if dtype == np.float64 else (2.0**-23, 2.0**-126)

    def f(v):
        return abs(v) if abs(v) < t else 0.0

    def gamma(k):
        return k * u / (1 - k * u)

    a, e_a = [x], [f(x)]
    z_, gp, e_g = [None], [None], [None]
    # a is exactly 0 in every computation: an input 0, or g(z) = 0 for a z that is (g with
    # g(0) = 0 exactly, of a z whose term has a zero factor and b = 0; or relu of a z certainly
    # below 0). Such a z has no kink to fall either side of.
    exact = x == 0
    for name, w, b in zip(names, ws, bs, strict=True):
        g, dg, c, s = SCALAR[name]
        rounding = 4.0 if s else 0.0  # g' of a smooth g: 4u absolutely, in either standard
        s = s if precision == "standard" else 0.0
        z = a[-1] * w + b
        e_z = gamma(2) * (abs(a[-1]) + e_a[-1]) * abs(w) + gamma(2) * abs(b) + 2 * t
        e_z += e_a[-1] * abs(w) + (abs(a[-1]) + e_a[-1]) * f(w) + f(b)
        eg = c * e_z + (rounding + 4 * s) * u
        z_exact = (exact or w == 0) and b == 0
        uncertain = name in JUMP and abs(z) <= e_z and not z_exact
        if uncertain:
            eg = JUMP[name]
        exact = z_exact and name in ("identity", "relu", "leaky_relu", "tanh")
        exact = exact or (name == "relu" and z < 0 and not uncertain)
        z_.append(z), gp.append(dg(z)), e_g.append(eg)
        a.append(g(z))
        e_a.append((abs(dg(z)) + eg) * e_z + 4 * u * (abs(a[-1]) + s) + t)
    derivative, lipschitz = LOSS_DERIVATIVE[loss]
    dA = derivative(a[-1], y)
    e_dA = lipschitz(y) * e_a[-1] + 8 * u * (abs(dA) + abs(y) + abs(a[-1])) + 2 * f(y) + 4 * t
    e_dA += u * abs(dA) + t
    bounds, dAs, deltas = [], [dA], []
    delta = e_delta = 0.0  # set at layer L before any use
    for layer in range(len(names), 0, -1):
        if layer < len(names):
            w_next = ws[layer]
            dA = delta * w_next
            e_dA = gamma(1) * (abs(delta) + e_delta) * abs(w_next) + t + e_delta * abs(w_next)
            dAs.insert(0, dA)
        delta = dA * gp[layer]
        deltas.insert(0, delta)
        e_delta = e_dA * (abs(gp[layer]) + e_g[layer]) + abs(dA) * e_g[layer]
        e_delta += u * abs(delta) + t
        m = abs(delta) + e_delta
        eW = gamma(2) * abs(a[layer - 1]) * m + 2 * t + e_a[layer - 1] * m
        eW += abs(a[layer - 1]) * e_delta
        bounds.insert(0, (eW, gamma(2) * m + e_delta + 2 * t))

    def arrays(values):
        return [None if v is None else np.array([[v]]) for v in values]

    exact_pass = AutodiffPass(
        grads=None,
        Z=arrays(z_),
        A=arrays(a),
        g_prime=arrays(gp),
        dZ=arrays([None, *deltas]),
        dA=arrays([delta * ws[0], *dAs]),
        risk=None,
    )
    return exact_pass, bounds


def _chain_case(chain):
    names, loss, x, ws, bs, y = chain
    spec = Spec((1,) * (len(names) + 1), names, loss)
    params = [(np.array([[w]]), np.array([b])) for w, b in zip(ws, bs, strict=True)]
    return spec, params, np.array([[x]]), np.array([[y]])


def _assert_bounds(bounds, expected):
    for (eW, eb), (want_W, want_b) in zip(bounds, expected, strict=True):
        assert float(eW[0, 0]) == pytest.approx(want_W, rel=1e-9, abs=0)
        assert float(eb[0]) == pytest.approx(want_b, rel=1e-9, abs=0)


CHAINS = [
    # names, loss, x, weights, biases, y
    (("sigmoid",), "square", 0.7, (1.3,), (-0.4,), 0.2),
    (("tanh",), "logistic", -1.1, (0.8,), (0.3,), 1.0),
    (("softplus",), "output", 0.5, (-1.7,), (0.9,), 0.0),
    (("identity",), "softmax_cross_entropy", 1.5, (2.0,), (-0.5,), 0.6),
    (("tanh", "sigmoid", "softplus"), "square", 0.9, (1.2, -0.7, 1.6), (0.1, 0.4, -0.2), 0.3),
    (("leaky_relu", "relu", "identity"), "square", -0.8, (1.5, -2.0, 0.6), (0.2, 0.3, 0.1), 0.5),
    # a relu and a leaky_relu whose z = 0.1 + 0.2 - 0.3 = 5.6e-17 lies within e(z) of the kink
    (("relu",), "square", 1.0, (0.1 + 0.2,), (-0.3,), 1.0),
    (("leaky_relu", "identity"), "square", 1.0, (0.1 + 0.2, 1.0), (-0.3, 0.0), 1.0),
    # everything 0: the bound is the terms in t alone
    (("identity", "identity"), "output", 0.0, (0.0, 0.0), (0.0, 0.0), 0.0),
    (("identity",), "square", 0.0, (0.0,), (0.0,), 0.0),
    # exact zeros: x = 0 and b = 0 make z^(1) = 0 in every computation, relu(0) = 0 and tanh(0)
    # = 0 pass it on, a weight 0 makes one, a relu of a z certainly below 0 too: no kink there
    (("relu", "relu", "identity"), "square", 0.0, (1.5, -2.0, 0.6), (0.0, 0.0, 0.1), 0.5),
    (("tanh", "leaky_relu"), "square", 0.0, (0.7, 1.3), (0.0, 0.0), 0.5),
    (("sigmoid", "relu"), "square", 1.0, (0.7, 0.0), (0.2, 0.0), 0.5),
    (("relu", "leaky_relu"), "square", 1.0, (-2.0, 3.0), (0.5, 0.0), 0.5),
    (("relu", "relu"), "square", 1.0, (0.5, 3.0), (-0.5, 0.0), 0.5),  # z = 0, a kink both ways
    # subnormal x, b and y where no computed value is subnormal
    (("identity", "relu"), "square", 3e-310, (0.0, 2.0), (0.5, 1e-310), 4e-310),
]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: "-".join(c[0]) + "-" + c[1])
def test_the_bound_of_a_chain_of_single_units_is_its_recurrences_for_scalars(chain):
    spec, params, X, Y = _chain_case(chain)
    bounds = backprop_error_bound(
        autodiff_backward(params, X, Y, spec), params, Y, spec, np.float64
    )
    _assert_bounds(bounds, _chain(*chain)[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("precision", ["standard", "strict"])
@pytest.mark.parametrize("chain", [CHAINS[4], CHAINS[5], CHAINS[6]], ids=["smooth", "pl", "kink"])
def test_the_bound_of_a_chain_in_each_standard_and_dtype(chain, precision, dtype):
    spec, params, X, Y = _chain_case(chain)
    ref = autodiff_backward(params, X, Y, spec)
    bounds = backprop_error_bound(ref, params, Y, spec, dtype, precision=precision)
    _assert_bounds(bounds, _chain(*chain, precision=precision, dtype=dtype)[1])


# Chains whose computed values are subnormal. A witness may flush those to 0 (XLA on the CPU
# does), so the magnitudes come from the chain computed in exact IEEE arithmetic, as Python's
# floats do it: there the flush terms f(v) are the whole bound, and each is pinned.
SUBNORMAL_CHAINS = [
    (("identity",), "square", 0.0, (0.0,), (0.0,), 4e-310),  # f(y)
    (("identity",), "square", 0.0, (0.0,), (3e-310,), 0.0),  # f(b), seen through ℓ' = 2(a - y)
    (("identity", "identity"), "output", 0.5, (3e-310, 1.0), (0.0, 0.0), 0.0),  # f(w)
    (("identity", "relu"), "square", 3e-310, (2.0, 5e-310), (1e-310, 0.0), 4e-310),
    (("sigmoid",), "logistic", 5e-310, (1.0,), (0.0,), 0.0),
]


@pytest.mark.parametrize("chain", SUBNORMAL_CHAINS, ids=lambda c: "-".join(c[0]) + "-" + c[1])
def test_the_bound_of_a_subnormal_chain_is_its_recurrences_for_scalars(chain):
    spec, params, _, Y = _chain_case(chain)
    exact_pass, expected = _chain(*chain)
    _assert_bounds(backprop_error_bound(exact_pass, params, Y, spec, np.float64), expected)
