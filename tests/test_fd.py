"""The finite-difference witness on functions whose derivatives are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings

import reference.fd as fd_module
import reference.fd_batched as batched_module
import reference.fd_compiled as compiled_module
from reference import Spec, autodiff_gradients
from reference.fd import finite_differences, risk_of
from reference.fd_rounding import (
    forward_error,
    forward_prefix,
    risk_magnitude,
    rounding_floor,
    unperturbed_point,
)
from reference.fd_stencil import OFFSETS, stencil_estimate, step_for
from reference.network import per_example_loss
from reference.strategies import Case, cases

# One weight w, one input x = 1, zero bias: R(w) = ℓ(g(w)), a scalar function of w alone.
ONE = np.ones((1, 1))


def scalar(activation: str, loss: str, w: float, y: float = 0.0, *, bias: float = 0.0):
    spec = Spec((1, 1), (activation,), loss)
    params = [(np.array([[w]]), np.array([bias]))]
    return finite_differences(params, ONE, np.array([[y]]), spec)


def only(result, field: str, param: int = 0) -> float:
    return float(getattr(result, field)[0][param].reshape(-1)[0])


@pytest.mark.parametrize("w", [-2.0, -0.3, 0.0, 0.7, 3.0, 40.0])
def test_tanh_output(w):
    result = scalar("tanh", "output", w)
    exact = 1 - np.tanh(w) ** 2
    assert abs(only(result, "gradients") - exact) <= only(result, "error")
    assert only(result, "error") < 1e-8
    assert not only(result, "kink")


@pytest.mark.parametrize("w", [-3.0, 0.5, 2.0])
def test_square_loss_of_softplus(w):
    # R = (softplus(w) - 1)^2, R' = 2 (softplus(w) - 1) sigmoid(w)
    result = scalar("softplus", "square", w, 1.0)
    exact = 2 * (np.log1p(np.exp(w)) - 1) / (1 + np.exp(-w))
    assert abs(only(result, "gradients") - exact) <= only(result, "error")


def test_nearly_saturated_sigmoid():
    # sigmoid'(30) = e^-30 / (1 + e^-30)^2 ≈ 9.4e-14: the estimate must still cover the error
    result = scalar("sigmoid", "output", 30.0)
    exact = np.exp(-30.0) / (1 + np.exp(-30.0)) ** 2
    value, error = only(result, "gradients"), only(result, "error")
    assert abs(value - exact) <= error
    assert error < 1e-9


def test_relu_kink_is_marked_and_judged_one_sided():
    result = scalar("relu", "output", 0.0)
    assert only(result, "kink")
    lower, upper = only(result, "lower"), only(result, "upper")
    # left derivative 0, right derivative 1: every subgradient is acceptable, nothing else is
    assert -0.01 < lower <= 0.0
    assert 1.0 <= upper < 1.01


def test_leaky_relu_kink_is_marked():
    result = scalar("leaky_relu", "output", 0.0)
    assert only(result, "kink")
    assert only(result, "lower") <= 0.01
    assert only(result, "upper") >= 1.0


def test_kink_inside_the_first_step_is_stepped_around():
    # z = w + b crosses 0 between w - h/4 and w: the first stencil straddles the corner, a
    # smaller step does not, and on the active side R = w + b exactly
    h = float(step_for(np.array(0.25), np.float64))
    result = scalar("relu", "output", 0.25, bias=-0.25 + h / 8)
    assert not only(result, "kink")
    assert only(result, "gradients") == 1.0
    assert only(result, "step") < h / 4


def test_kink_inside_the_smallest_step_is_marked():
    # three retries and no more, each step 16 times smaller: the last step is h / 16^3
    h = float(step_for(np.array(0.25), np.float64)) / 16**3
    result = scalar("relu", "output", 0.25, bias=-0.25 + h / 8)
    assert only(result, "kink")
    assert only(result, "step") == h


def test_away_from_the_kink_relu_is_smooth():
    result = scalar("relu", "output", 0.5)
    assert not only(result, "kink")
    assert only(result, "gradients") == 1.0


def test_step_is_a_power_of_two_scaled_to_the_entry():
    steps = step_for(np.array([0.0, 1.0, -3.0, 1000.0]), np.float64)
    assert np.all(np.log2(steps) == np.round(np.log2(steps)))
    assert steps[0] == steps[1] < steps[2] < steps[3]
    assert step_for(np.array([1.0]), np.float32)[0] > steps[1]


def test_integer_weights_give_exact_piecewise_linear_derivatives():
    # relu network with identity output and the output loss is linear in each weight locally
    spec = Spec((2, 3, 1), ("relu", "identity"), "output")
    params = [
        (np.array([[1.0, -2.0, 3.0], [2.0, 1.0, -1.0]]), np.array([1.0, 0.0, -1.0])),
        (np.array([[2.0], [-1.0], [3.0]]), np.zeros(1)),
    ]
    X = np.array([[1.0, 2.0]])
    result = finite_differences(params, X, np.zeros((1, 1)), spec)
    # z^(1) = (1*1 + 2*2 + 1, 1*(-2) + 2*1 + 0, 1*3 + 2*(-1) - 1) = (6, 0, 0): two exact kinks
    assert result.kink[0][0][:, 1:].all()
    assert not result.kink[0][0][:, 0].any()
    # unit 1 is active: ∂H/∂W^(1)_i1 = x_i * W^(2)_11 = (2, 4), ∂H/∂W^(2)_11 = a_1 = 6
    assert result.gradients[0][0][:, 0].tolist() == [2.0, 4.0]
    assert result.gradients[1][0][0, 0] == 6.0


def test_float32_evaluation_is_less_accurate_but_honest():
    spec = Spec((1, 1), ("tanh",), "output")
    params = [(np.array([[0.3]]), np.zeros(1))]
    result = finite_differences(params, ONE, np.zeros((1, 1)), spec, dtype=np.float32)
    exact = 1 - np.tanh(0.3) ** 2
    error = only(result, "error")
    assert abs(only(result, "gradients") - exact) <= error
    assert 1e-9 < error < 1e-3


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(0)
    spec = Spec((3, 5, 2), ("tanh", "identity"), "softmax_cross_entropy")
    params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in spec.shapes()]
    X, Y = rng.normal(size=(4, 3)), np.full((4, 2), 0.5)
    whole = finite_differences(params, X, Y, spec)
    pieces = finite_differences(params, X, Y, spec, chunk=4)
    for a, b in zip(whole.gradients, pieces.gradients, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_two_kinks_inside_the_step_make_the_witness_abstain():
    # Two examples whose relu units turn on and off within 1e-16 of w on either side: between
    # the corners R has slope 1/2, outside them 0. The analytic derivative (1/2) is no slope the
    # stencil can see, so the witness must abstain rather than call it wrong.
    spec = Spec((2, 1), ("relu",), "output")
    params = [(np.array([[0.0], [1.0]]), np.zeros(1))]
    X = np.array([[1.0, 2.0**-60], [1.0, -(2.0**-70)]])
    result = finite_differences(params, X, np.zeros((2, 1)), spec)
    assert result.kink[0][0][0, 0]
    assert result.unresolved[0][0][0, 0]
    assert result.lower[0][0][0, 0] == -np.inf
    assert result.upper[0][0][0, 0] == np.inf
    # W_21 scales the tiny inputs only: no sign changes, an ordinary entry
    assert not result.kink[0][0][1, 0]


def test_one_kink_at_w_stays_judged():
    result = scalar("relu", "output", 0.0)
    assert not only(result, "unresolved")


def test_deeply_saturated_sigmoid_keeps_its_relative_accuracy():
    # R = sigmoid(w) at w = -137: R' = sigmoid(w) (1 - sigmoid(w)) ≈ e^-137 ≈ 3e-60, far below
    # the spacing of floats near 1; a sigmoid computed as 1/2 tanh(w/2) + 1/2 would give R = 0.
    result = scalar("sigmoid", "output", -137.0)
    exact = np.exp(-137.0) / (1 + np.exp(-137.0)) ** 2
    assert abs(only(result, "gradients") - exact) <= only(result, "error") <= 1e-6 * exact


def test_large_input_in_front_of_tanh_gets_a_step_to_match():
    # R = tanh(10^5 w) at w = 10^-5: R' = 10^5 (1 - tanh(1)^2). A step of u^(1/5) in w would
    # move the pre-activation by 70, across the whole tanh.
    spec = Spec((1, 1), ("tanh",), "output")
    params = [(np.array([[1e-5]]), np.zeros(1))]
    result = finite_differences(params, np.array([[1e5]]), np.zeros((1, 1)), spec)
    exact = 1e5 * (1 - np.tanh(1.0) ** 2)
    value, error = result.gradients[0][0][0, 0], result.error[0][0][0, 0]
    assert abs(value - exact) <= error <= 1e-8 * exact
    assert not result.unresolved[0][0][0, 0]


def test_cancellation_in_the_forward_pass_is_in_the_error_estimate():
    # H_2 = 4 (40 sigmoid(5 softplus(b)) - 39) + 0 cancels to -0.84 from terms near 39, so R
    # carries rounding near 40 u rather than u |R|. With y = 0 and logistic loss,
    # R = softplus(H_1) + softplus(H_2) and, at b = 0 (softplus' = sigmoid, sigmoid(0) = 1/2),
    # ∂R/∂b = sigmoid(H_2) * 4 * 40 * sigmoid'(z) * 5 * 1/2 with z = 5 log 2.
    spec = Spec((1, 1, 1, 1, 2), ("softplus", "sigmoid", "identity", "identity"), "logistic")
    params = [
        (np.zeros((1, 1)), np.zeros(1)),
        (np.array([[5.0]]), np.zeros(1)),
        (np.array([[40.0]]), np.array([-39.0])),
        (np.array([[0.0, 4.0]]), np.zeros(2)),
    ]
    result = finite_differences(params, np.zeros((1, 1)), np.zeros((1, 2)), spec)

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    z = 5 * np.log(2.0)
    H2 = 4 * (40 * sigmoid(z) - 39)
    exact = sigmoid(H2) * 4 * 40 * sigmoid(z) * (1 - sigmoid(z)) * 5 / 2
    assert abs(result.gradients[0][1][0] - exact) <= result.error[0][1][0] <= 1e-9 * exact


def test_a_ratio_near_4_by_chance_far_from_the_asymptotic_regime_is_caught():
    # Found by `check manual:gradients --examples 1000 --seed 1`. b^(1)_2 reaches the output
    # through weights of 33 twice, so the first step (2^-7) moves z^(3) by several units: D(h),
    # D(h/2), D(h/4) = -128, -241, -265 are nowhere near R' = -188.59, yet their differences
    # come out in the ratio 4.7, inside the odd check's 25%. The even part's ratio (0.8) is not;
    # the entry is retried with a smaller step and its value lies within its error estimate.
    spec = Spec((1, 4, 8, 1), ("identity", "tanh", "tanh"), "output")
    W2 = np.zeros((4, 8))
    W2[:, 0] = [1 / 3, 32.94088843356248, -30.76663164499169, -3.0]
    W2[1, 5], W2[1, 6], W2[2, 7], W2[3, 1] = 33.0, 11.0, 40.0, 26.0
    b1 = np.array([5.952965484065508, 8.781147190100455, 8.913420127898199, 0.6112252562873977])
    W3 = np.array(
        [
            *(-33.0, -27.61111664710313, 17.795868407209937, -16.456785461800585),
            *(-8.728193526908193, -1.0, 26.275370590372134, -27.601538132232484),
        ]
    )[:, None]
    params = [
        (np.zeros((1, 4)), b1),
        (W2, np.array([-15.965496247475297, 0.0, -3.0, -5.0, 32.0, 0.0, 0.0, 0.0])),
        (W3, np.array([19.349731086679583])),
    ]
    X, Y = np.zeros((1, 1)), np.zeros((1, 1))
    result = finite_differences(params, X, Y, spec)
    exact = autodiff_gradients(params, X, Y, spec)[0][1]
    assert not result.unresolved[0][1].any()
    assert (np.abs(result.gradients[0][1] - exact) <= result.error[0][1]).all()
    assert result.step[0][1][1] < 2.0**-7


# softmax cross-entropy with ℓ = log(1 + e^-5) = 0.0067: the sum 1 + e^-5 inside the log rounds
# by up to u/2, which the log passes on as an absolute error of about 70 u ℓ
SMALL_SOFTMAX_LOSS = Case(
    Spec((2, 2), ("identity",), "softmax_cross_entropy"),
    [(np.zeros((2, 2)), np.array([0.0, -5.0]))],
    np.zeros((1, 2)),
    np.array([[1.0, 0.0]]),
)


@settings(max_examples=200, derandomize=True, database=None)
@given(case=cases(max_depth=4, max_width=6, max_batch=5))
@example(case=SMALL_SOFTMAX_LOSS)
def test_forward_error_bounds_the_rounding_of_the_risk(case):
    # float64 R against the same pass in extended precision (where the platform has it, 80-bit):
    # the difference must stay within u F + E, F the loss terms' size, E the propagated bound.
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        pytest.skip("no extended precision on this platform")
    results = {}
    for dtype in (np.float64, np.longdouble):
        params = [(W.astype(dtype), b.astype(dtype)) for W, b in case.params]
        A, Z = forward_prefix(params, case.X.astype(dtype), case.spec.activations)
        risk = per_example_loss(np, case.spec.loss, A[-1], case.Y.astype(dtype)).mean()
        results[dtype] = (risk, params, A, Z)
    risk, params, A, Z = results[np.float64]
    eps = np.finfo(np.float64).eps
    terms = abs(risk) + risk_magnitude(A[-1], case.Y, case.spec.loss)
    bound = forward_error(params, A, Z, case.Y, case.spec) + 4 * eps * terms
    assert abs(float(risk) - float(results[np.longdouble][0])) <= bound


@settings(max_examples=60, derandomize=True, database=None)
@given(case=cases(max_depth=3, max_width=5, max_batch=4))
def test_the_structure_aware_stencil_is_the_plain_one(case):
    # Each entry's Richardson value, recomputed one entry at a time with full forward passes at
    # the steps the fast path settled on, agrees within the fast path's own error estimate.
    result = finite_differences(case.params, case.X, case.Y, case.spec)
    for layer, (W, b) in enumerate(case.params):
        for k, array in enumerate((W, b)):
            for index in np.ndindex(array.shape):
                if result.kink[layer][k][index] or result.unresolved[layer][k][index]:
                    continue
                h = result.step[layer][k][index]
                values = {}
                for offset in (1.0, -1.0, 0.5, -0.5, 0.25, -0.25):
                    moved = [[W_.copy(), b_.copy()] for W_, b_ in case.params]
                    moved[layer][k][index] += offset * h
                    values[offset] = risk_of(moved, case.X, case.Y, case.spec)
                d_half = (values[0.5] - values[-0.5]) / h
                d_quarter = (values[0.25] - values[-0.25]) / (h / 2)
                plain = (4 * d_quarter - d_half) / 3
                fast = result.gradients[layer][k][index]
                assert abs(fast - plain) <= result.error[layer][k][index], (layer, k, index)


COMPILED_CASES = [
    # (widths, activations, loss): every activation in the compiled layers, both ways of
    # forming a layer there (9+ units: a matrix product; up to 8: fused sums), kinks included
    ((3, 5, 12, 2), ("tanh", "relu", "identity"), "square"),
    ((2, 4, 6, 3), ("sigmoid", "leaky_relu", "softplus"), "softmax_cross_entropy"),
    ((4, 3, 10, 1), ("softplus", "sigmoid", "tanh"), "logistic"),
    ((3, 6, 5, 4), ("relu", "tanh", "sigmoid"), "output"),
    ((3, 4, 6, 2), ("relu", "relu", "identity"), "square"),
    # depth 4: layers after the first recomputed one, 10 units wide (a matrix product there)
    ((2, 3, 4, 10, 2), ("tanh", "relu", "sigmoid", "identity"), "square"),
]


def _spy_on_stencils(monkeypatch) -> set:
    """Record (layer, addition) of every compiled stencil the finite differences ask for."""
    used: set = set()
    real = compiled_module._compiled_stencil

    def spy(spec, layer, addition):
        used.add((layer, addition))
        return real(spec, layer, addition)

    monkeypatch.setattr(compiled_module, "_compiled_stencil", spy)
    return used


@pytest.mark.parametrize("small_move", [compiled_module._SMALL_MOVE, 8.5e-4])
@pytest.mark.parametrize(("widths", "activations", "loss"), COMPILED_CASES)
def test_the_compiled_tail_is_the_numpy_one(widths, activations, loss, small_move, monkeypatch):
    # The same entries through both paths: values within their joint error estimate, and the
    # same kinks, abstentions and steps. Where layer l+1 is tanh or sigmoid, its entries take the
    # addition-theorem stencil; with the smaller threshold some of each such layer take the
    # plain one instead, so that one layer is split between the two.
    rng = np.random.default_rng(len(widths) * 7 + widths[1])
    spec = Spec(widths, activations, loss)
    params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in spec.shapes()]
    X = rng.integers(-2, 3, size=(5, widths[0])).astype(float)
    # example 1 all zeros and no first-layer bias: z^(1) = 0 there, so every b^(1) stencil
    # crosses a relu corner; with z^(2)_1 = 0 too, the layer above sees corners as well
    X[0] = 0.0
    params[0][1][:] = 0.0
    params[1][1][0] = 0.0
    Y = np.abs(rng.normal(size=(5, widths[-1])))
    Y /= Y.sum(axis=1, keepdims=True)
    monkeypatch.setattr(batched_module, "COMPILE_ABOVE", 10**18)
    plain = finite_differences(params, X, Y, spec)
    monkeypatch.setattr(batched_module, "COMPILE_ABOVE", 0)
    # several calls, the last padded
    monkeypatch.setattr(compiled_module, "_COMPILED_CALL", {False: 600, True: 600})
    monkeypatch.setattr(compiled_module, "_SMALL_MOVE", small_move)
    used = _spy_on_stencils(monkeypatch)
    compiled = finite_differences(params, X, Y, spec)
    for layer in range(1, spec.depth):
        tanh_like = activations[layer] in compiled_module._TANH_LIKE
        expected = {(layer, True), (layer, False)} if small_move < 0.1 else {(layer, True)}
        assert used >= (expected if tanh_like else {(layer, False)}), used
    for layer in range(spec.depth):
        for k in range(2):
            for field in ("kink", "unresolved", "step"):
                np.testing.assert_array_equal(
                    getattr(compiled, field)[layer][k], getattr(plain, field)[layer][k]
                )
            gap = np.abs(compiled.gradients[layer][k] - plain.gradients[layer][k])
            allowed = compiled.error[layer][k] + plain.error[layer][k]
            judged = ~plain.unresolved[layer][k]
            assert (gap <= allowed)[judged].all(), (layer, k)
    if activations[0] == "relu":
        assert plain.kink[0][1].any()  # the corners are really there


def test_both_paths_compute_activations_within_the_forward_error_model():
    # forward_error charges each activation 4 u |a| (plus the smallest normal for underflow);
    # the compiled tail uses jax.nn's, the NumPy path reference.network's: both must fit it.
    import jax
    import jax.numpy as jnp

    from reference.autodiff import computing_in
    from reference.network import jax_activation, numpy_activation

    rng = np.random.default_rng(0)
    z = np.concatenate(
        [rng.normal(size=100_000) * s for s in (1e-3, 0.3, 3.0, 30.0, 300.0)]
        + [np.linspace(-745.0, 745.0, 20_001)]
    )
    exact_z = z.astype(np.longdouble)
    exact = {
        "tanh": np.tanh(exact_z),
        "sigmoid": 1 / (1 + np.exp(-exact_z)),
        "softplus": np.logaddexp(exact_z, np.longdouble(0)),
    }
    eps, tiny = np.finfo(np.float64).eps, np.finfo(np.float64).tiny
    with computing_in(np.float64):
        for name, value in exact.items():
            for computed in (
                numpy_activation(name)(z),
                np.asarray(jax.jit(jax_activation(name))(jnp.asarray(z))),
            ):
                error = np.abs(computed.astype(np.longdouble) - value)
                assert (error <= 4 * eps * np.abs(value) + tiny).all(), name


def _extended() -> None:
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        pytest.skip("no extended precision on this platform")


def test_the_small_argument_tanh_is_tanh_to_a_twentieth_of_an_ulp():
    # The Padé approximant, evaluated in extended precision so that only its mathematical error
    # shows, against tanh on the whole range it serves.
    _extended()
    small = compiled_module._SMALL_MOVE
    x = np.linspace(-small, small, 100_001).astype(np.longdouble)
    x = np.concatenate([x, np.longdouble(10.0) ** -np.arange(1, 30)])
    p, q = compiled_module._tanh_small(x)
    exact = np.tanh(x)
    nonzero = exact != 0
    relative = np.abs(p / q - exact)[nonzero] / np.abs(exact[nonzero])
    assert relative.max() <= np.finfo(np.float64).eps / 20


STENCIL_VALUE_CASES = [
    # layer l+1 tanh or sigmoid inside the network, and as the output layer
    ((3, 4, 6, 2), ("tanh", "tanh", "identity"), "square"),
    ((2, 5, 3), ("relu", "sigmoid"), "logistic"),
    ((3, 4, 5, 3), ("sigmoid", "sigmoid", "tanh"), "softmax_cross_entropy"),
]


@pytest.mark.parametrize("small_move", [compiled_module._SMALL_MOVE, 0.0])
@pytest.mark.parametrize(("widths", "activations", "loss"), STENCIL_VALUE_CASES)
def test_compiled_stencil_values_are_the_risk_within_the_rounding_floor(
    widths, activations, loss, small_move, monkeypatch
):
    # Every value of R the compiled stencils return, against R at the same perturbed parameters
    # by a full forward pass in extended precision: within the rounding floor the error estimate
    # charges. Moves of z^(l+1) span up to three times the addition theorem's threshold (0.1):
    # a wrong approximant shows near it, and a move beyond it that the theorem's stencil takes
    # shows too; with the threshold at 0 the plain stencil serves every entry.
    _extended()
    rng = np.random.default_rng(sum(widths))
    spec = Spec(widths, activations, loss)
    params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in spec.shapes()]
    X = rng.normal(size=(4, widths[0]))
    Y = np.abs(rng.normal(size=(4, widths[-1])))
    Y /= Y.sum(axis=1, keepdims=True)
    monkeypatch.setattr(batched_module, "COMPILE_ABOVE", 0)
    monkeypatch.setattr(compiled_module, "_SMALL_MOVE", small_move)
    used = _spy_on_stencils(monkeypatch)
    point = unperturbed_point(params, X, Y, spec)
    wide = [(W.astype(np.longdouble), b.astype(np.longdouble)) for W, b in params]
    for layer in range(1, spec.depth):
        W, _ = params[layer - 1]
        entries = np.arange((W.shape[0] + 1) * W.shape[1])
        # |offset a_i| max |W^(l+1)| up to 0.3 (an upper bound on the move: all activations are
        # 1-Lipschitz)
        reach = max(1.0, np.abs(point.A[layer - 1]).max()) * np.abs(params[layer][0]).max()
        steps = 0.3 / reach * rng.uniform(0.001, 1.0, size=entries.size)
        risks, _ = batched_module.layer_entries(
            layer, params, point.A, Y, spec, point.Z, entries, steps, batched_module.CHUNK
        )
        floor = rounding_floor(risks, point)
        for e, index in enumerate(entries):
            row, unit = np.unravel_index(index, (W.shape[0] + 1, W.shape[1]))
            for k, offset in enumerate(OFFSETS):
                moved = [[W_.copy(), b_.copy()] for W_, b_ in wide]
                if row < W.shape[0]:
                    moved[layer - 1][0][row, unit] += np.longdouble(offset * steps[e])
                else:
                    moved[layer - 1][1][unit] += np.longdouble(offset * steps[e])
                exact = risk_of(moved, X.astype(np.longdouble), Y.astype(np.longdouble), spec)
                assert abs(risks[e, k] - exact) <= floor[e], (layer, index, offset)
    for layer, name in enumerate(activations[1:], start=1):
        assert ((layer, True) in used) == (small_move > 0 and name in compiled_module._TANH_LIKE)


# The checks of `stencil_estimate` at their edges. Each allowance is the most rounding can
# contribute: every value of R carries at most ε, so D(s) = (R(w+s) - R(w-s)) / 2s carries
# ε/s, and with noise = ε/h: D(h) 1, D(h/2) 2 and D(h/4) 4 noise; the even part S(s) =
# (R(w+s) + R(w-s) - 2 R(w)) / s^2 carries 4 ε / s^2: S(h) 4, S(h/2) 16, S(h/4) 64 noise/h. A
# difference just inside an allowance passes and one just outside fails, so an allowance or
# ratio made looser, even by a fraction of a percent, fails a test.
H, EPS, BASE = 2.0**-4, 1e-6, 0.5
NOISE = EPS / H


def estimate(D=(0.0, 0.0, 0.0), S=(0.0, 0.0, 0.0), eps=EPS):
    """`stencil_estimate` of the stencil whose central quotients are D(h), D(h/2), D(h/4) and whose
    even parts are S(h), S(h/2), S(h/4): R(w ± s) = R(w) ± s D(s) + s^2 S(s) / 2."""
    risks = []
    for s, d, even in zip((H, H / 2, H / 4), D, S, strict=True):
        risks += [BASE + s * d + s * s * even / 2, BASE - s * d + s * s * even / 2]
    h, eps = np.array([H]), np.array([float(eps)])
    return stencil_estimate(np.array([risks]), BASE, h, eps)


@pytest.mark.parametrize(("margin", "expanding"), [(0.999, True), (1.001, False)])
def test_the_odd_part_allows_exactly_the_rounding_of_its_quotients(margin, expanding):
    # |(D(h) - D(h/2)) - 4 (D(h/2) - D(h/4))| = |D(h) - 5 D(h/2) + 4 D(h/4)| carries at most
    # 1 + 5 x 2 + 4 x 4 = 27 noise; with D(h) = D(h/2) = 0 the 25% part adds nothing
    assert bool(estimate(D=(0.0, 0.0, margin * 27 * NOISE / 4)).expanding[0]) is expanding


@pytest.mark.parametrize(("margin", "expanding"), [(0.99, True), (1.01, False)])
def test_the_odd_part_allows_a_ratio_within_25_percent_of_4(margin, expanding):
    # D(h) - D(h/2) = 1 and D(h/2) - D(h/4) = (1 + 0.25 margin) / 4, without rounding
    D = (3.0, 2.0, 2.0 - (1 + 0.25 * margin) / 4)
    assert bool(estimate(D=D, eps=0.0).expanding[0]) is expanding


@pytest.mark.parametrize(("margin", "expanding"), [(0.999, True), (1.001, False)])
def test_the_even_part_allows_exactly_the_rounding_of_its_quotients(margin, expanding):
    # |S(h) - 5 S(h/2) + 4 S(h/4)| carries at most 4 + 5 x 16 + 4 x 64 = 340 noise / h
    assert bool(estimate(S=(0.0, 0.0, margin * 340 * NOISE / H / 4)).expanding[0]) is expanding


@pytest.mark.parametrize(("margin", "expanding"), [(0.99, True), (1.01, False)])
def test_the_even_part_allows_a_ratio_within_25_percent_of_4(margin, expanding):
    S = (3.0, 2.0, 2.0 - (1 + 0.25 * margin) / 4)
    assert bool(estimate(S=S, eps=0.0).expanding[0]) is expanding


def test_an_exact_expansion_is_expanding():
    # D(s) = 1 + s^2 and S(s) = 2 + s^2 exactly, beside the edge cases above
    D = tuple(1 + s * s for s in (H, H / 2, H / 4))
    S = tuple(2 + s * s for s in (H, H / 2, H / 4))
    assert estimate(D=D, S=S, eps=0.0).expanding[0]


def test_the_error_estimate_is_the_richardson_difference_plus_the_rounding_of_the_value():
    # R2 = (4 D(h/4) - D(h/2)) / 3 carries (4 x 4 + 2) / 3 = 6 noise; R1 = (4 D(h/2) - D(h)) / 3.
    # D = (1, 1, 1 + x): R1 = 1, R2 = 1 + 4x/3
    x = 3e-3
    result = estimate(D=(1.0, 1.0, 1.0 + x))
    assert result.value[0] == pytest.approx(1 + 4 * x / 3, rel=1e-12, abs=0)
    assert result.error[0] == pytest.approx(4 * x / 3 + 6 * NOISE, rel=1e-6, abs=0)
    assert estimate(D=(1.0, 1.0, 1.0)).error[0] == pytest.approx(6 * NOISE, rel=1e-6, abs=0)


def test_the_one_sided_interval_extends_by_the_spread_and_the_rounding_of_its_quotients():
    # A corner at w: R(w - s) = R(w) and R(w + s) = R(w) + s + s^2. The one-sided quotients are
    # 0, 0 on the left and 1 + s at s = h/2, h/4 on the right (spread h/4); each, over s = h/4,
    # carries 2 ε / (h/4) = 8 noise. The central value (1/2 + s/2) lies inside.
    risks = []
    for s in (H, H / 2, H / 4):
        risks += [BASE + s + s * s, BASE]
    result = stencil_estimate(np.array([risks]), BASE, np.array([H]), np.array([EPS]))
    assert result.lower[0] == pytest.approx(-(H / 4 + 8 * NOISE), rel=1e-9, abs=0)
    assert result.upper[0] == pytest.approx(1 + H / 2 + H / 4 + 8 * NOISE, rel=1e-9)


def test_the_work_of_differencing_every_entry_by_hand():
    from reference.fd import differencing_work

    # widths (2, 3, 1), n = 4, six stencil points an entry. Layer 1: (2 + 1) * 3 = 9 entries,
    # each point recomputes layer 1's 3 units, layer 2's 3 * 1 multiply-adds and the loss's 1
    # output: 4 * (3 + 3 + 1) = 28, so 9 * 6 * 28 = 1512. Layer 2: (3 + 1) * 1 = 4 entries,
    # 4 * (1 + 0 + 1) = 8 a point: 4 * 6 * 8 = 192. In all 1704.
    assert differencing_work(Spec((2, 3, 1), ("tanh", "identity"), "square"), 4) == 1704
    # widths (1, 2, 3), n = 1: layer 1 has 2 * 2 = 4 entries of 1 * (2 + 2 * 3 + 3) = 11 a point,
    # 4 * 6 * 11 = 264; layer 2 has 3 * 3 = 9 entries of 1 * (3 + 0 + 3) = 6, 9 * 6 * 6 = 324
    assert differencing_work(Spec((1, 2, 3), ("tanh", "identity"), "square"), 1) == 588


def test_every_entry_is_differenced_within_the_corner_or_the_work_bound():
    from reference.fd import FULL_UP_TO, differenced_in_full, differencing_work

    corner = Spec((8, 8, 8, 8, 8), ("tanh",) * 4, "square")
    assert differenced_in_full(corner, 8)
    assert differencing_work(corner, 9) > FULL_UP_TO
    assert not differenced_in_full(corner, 9)
    deeper = Spec((1,) * 6, ("tanh",) * 5, "square")  # depth 5: outside the corner, little work
    assert differencing_work(deeper, 1) <= FULL_UP_TO
    assert differenced_in_full(deeper, 1)
    wide = Spec((2, 9), ("tanh",), "square")  # width 9, batch 500: work 3 * 9 * ... (below)
    # (2 + 1) * 9 entries, 6 points each of n * (9 + 0 + 9) multiply-adds: 2916 n
    assert differencing_work(wide, 85) == 2916 * 85 <= FULL_UP_TO
    assert differenced_in_full(wide, 85)
    assert not differenced_in_full(wide, 86)


def test_work_equal_to_the_bound_is_differenced_in_full(monkeypatch):
    from reference.fd import differenced_in_full, differencing_work

    wide = Spec((2, 9), ("tanh",), "square")
    monkeypatch.setattr(fd_module, "FULL_UP_TO", differencing_work(wide, 90))
    assert differenced_in_full(wide, 90)
    assert not differenced_in_full(wide, 91)


def test_beyond_the_bound_two_random_entries_and_the_worst_four_of_each_wrong_parameter():
    from reference import autodiff_backward
    from reference.compare import backprop_error_bound, compare_to_autodiff
    from reference.fd import SAMPLED, WORST, sampled_entries

    spec = Spec((4, 9, 9, 3), ("tanh", "tanh", "identity"), "square")
    rng = np.random.default_rng(1)
    params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in spec.shapes()]
    X, Y = rng.normal(size=(40, 4)), rng.normal(size=(40, 3))
    random = sampled_entries(spec, X)
    assert random is not None
    assert [len(layer) for layer in random] == [len(layer) for layer in sampled_entries(spec, X)]
    assert sum(len(layer) for layer in random) <= len(SAMPLED)
    # the random picks alternate: one of some W (flat index below its size), one of some b
    kinds = sorted(
        int(i >= spec.widths[k] * spec.widths[k + 1])
        for k, layer in enumerate(random)
        for i in layer
    )
    assert kinds in ([0, 1], [0], [1])  # two picks, or one if both fell on the same entry
    reference = autodiff_backward(params, X, Y, spec)
    bounds = backprop_error_bound(reference, params, Y, spec, np.float64)
    candidate = [(dW.copy(), db.copy()) for dW, db in reference.grads]
    # six wrong entries of W^(2), the worse the later; one wrong entry of b^(3)
    for k, (i, j) in enumerate([(0, 0), (1, 2), (2, 4), (3, 6), (4, 8), (5, 1)]):
        candidate[1][0][i, j] += 10.0**k
    candidate[2][1][2] -= 1.0
    comparison = compare_to_autodiff(candidate, reference, params, Y, spec, np.float64, bounds)
    picked = sampled_entries(spec, X, comparison)
    worst_W2 = {9 * i + j for i, j in [(2, 4), (3, 6), (4, 8), (5, 1)]}  # the four largest
    assert WORST == 4
    assert worst_W2 <= set(picked[1].tolist())
    assert {9 * 0 + 0, 9 * 1 + 2} - set(random[1].tolist()) & set(picked[1].tolist()) == set()
    assert 9 * 3 + 2 in picked[2].tolist()  # b^(3)_3: after the 27 entries of W^(3)
    for layer, chosen in enumerate(picked):
        assert np.all(np.diff(chosen) > 0)  # sorted, no repeats
        assert set(random[layer].tolist()) <= set(chosen.tolist())


# The rounding floor's two scales by hand (u = 2^-52, t = 2^-1022, γ_2 = 2u / (1 - 2u)).
U, TINY = 2.0**-52, 2.0**-1022
GAMMA_2 = 2 * U / (1 - 2 * U)


def _forward_error(widths, activations, loss, params, X, Y):
    spec = Spec(widths, activations, loss)
    params = [(np.array(W, dtype=float), np.array(b, dtype=float)) for W, b in params]
    X, Y = np.array(X, dtype=float), np.array(Y, dtype=float)
    A, Z = forward_prefix(params, X, spec.activations)
    return forward_error(params, A, Z, Y, spec)


def test_forward_error_of_one_identity_unit_by_hand():
    # z = 1.5 * 2 + 0.5 = 3.5 from exact inputs: e(z) = γ_2 (3 + 0.5) + 2t; a = z adds 4u |a| + t;
    # ℓ = H moves R one for one, n = 1
    got = _forward_error((1, 1), ("identity",), "output", [([[2.0]], [0.5])], [[1.5]], [[0.0]])
    assert got == pytest.approx(GAMMA_2 * 3.5 + 4 * U * 3.5 + 3 * TINY, rel=1e-7, abs=0)


def test_forward_error_of_two_examples_and_the_square_loss_by_hand():
    # x = 1.5 and -1: z = 3.5 and -1.5, e(a) = γ_2 3.5 + 4u 3.5 and γ_2 2.5 + 4u 1.5 (plus 3t
    # each); ℓ = (H - 0.5)^2 has slope 2 |H - 0.5| = 6 and 4; R is their mean
    got = _forward_error(
        (1, 1), ("identity",), "square", [([[2.0]], [0.5])], [[1.5], [-1.0]], [[0.5], [0.5]]
    )
    first, second = GAMMA_2 * 3.5 + 4 * U * 3.5, GAMMA_2 * 2.5 + 4 * U * 1.5
    assert got == pytest.approx((6 * first + 4 * second) / 2 + 5 * TINY, rel=1e-7, abs=0)


def test_forward_error_through_a_relu_that_is_off_and_a_tanh_by_hand():
    # z^(1) = -0.5: relu is flat there (slope 0), a^(1) = 0 exactly, its error t alone. Then
    # z^(2) = 3 * 0 + 0.25: e(z) = 3t + γ_2 0.25 + 2t; a^(2) = tanh(0.25), slope 1 - tanh^2
    s = 1 - np.tanh(0.25) ** 2
    e_z = 5 * TINY + GAMMA_2 * 0.25
    want = s * e_z + 4 * U * np.tanh(0.25) + TINY
    got = _forward_error(
        (1, 1, 1),
        ("relu", "tanh"),
        "output",
        [([[-1.0]], [0.5]), ([[3.0]], [0.25])],
        [[1.0]],
        [[0]],
    )
    assert got == pytest.approx(want, rel=1e-7, abs=0)


def test_forward_error_takes_each_losss_slope():
    # one identity unit at H = 0 (x = 1, w = 0.5, b = -0.5): e(H) = γ_2 (0.5 + 0.5) + 3t. The
    # loss's slope there: logistic σ(0) - y = 0.5 - 1; softmax cross-entropy over the two outputs
    # H = (0, 0) with y = (1, 0): ∂ℓ/∂H = softmax - y = (-0.5, 0.5), each output erring alike
    e_H = GAMMA_2 + 3 * TINY
    logistic = _forward_error(
        (1, 1), ("identity",), "logistic", [([[0.5]], [-0.5])], [[1.0]], [[1.0]]
    )
    assert logistic == pytest.approx(0.5 * e_H, rel=1e-7, abs=0)
    softmax = _forward_error(
        (1, 2),
        ("identity",),
        "softmax_cross_entropy",
        [([[0.5, 0.5]], [-0.5, -0.5])],
        [[1.0]],
        [[1.0, 0.0]],
    )
    assert softmax == pytest.approx(2 * 0.5 * e_H, rel=1e-7, abs=0)


def test_the_magnitude_of_the_risks_terms_by_hand():
    H, Y = np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 1.0]])
    # output: Σ|H| per example, 3 and 3
    assert risk_magnitude(H, Y, "output") == 3.0
    # square: ℓ + Σ|h y|: (1 + 1) + 2 = 4 and (4 + 1) + 3 = 8
    assert risk_magnitude(H, Y, "square") == 6.0
    # logistic at H = 0, y = 1: ℓ = log 2, h y = 0
    assert risk_magnitude(np.zeros((1, 1)), np.ones((1, 1)), "logistic") == pytest.approx(
        np.log(2), rel=1e-15
    )
    # softmax cross-entropy, H = (1, -1), y = (1/2, 1/2): ℓ = log(e + 1/e), Σ|h y| = 1, and
    # Σ|y| (n_L + spread + max |H|) = 1 * (2 + 2 + 1)
    got = risk_magnitude(np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]]), "softmax_cross_entropy")
    assert got == pytest.approx(np.log(np.e + 1 / np.e) + 1 + 5, rel=1e-15)


def test_the_worst_entries_picked_are_those_beyond_their_tolerance_nan_first():
    from types import SimpleNamespace

    from reference.fd import sampled_entries

    # widths (3, 20, 2, 5) at batch 40: beyond the bound. The comparison is written by hand:
    # each parameter's ratios of |candidate - jax.grad| / tolerance.
    spec = Spec((3, 20, 2, 5), ("tanh", "tanh", "identity"), "square")
    X = np.zeros((40, 3))
    random = sampled_entries(spec, X)

    def param(layer, name, ratios, ok=False):
        ratios = np.array(ratios, dtype=float)
        return SimpleNamespace(layer=layer, param=name, ok=ok, ratios=lambda: ratios)

    W2 = np.zeros((20, 2))
    W2[0, 1], W2[3, 0], W2[5, 1], W2[7, 0], W2[9, 1], W2[11, 0] = 1.0, 2.0, np.nan, 1.5, 3.0, 1.25
    comparison = SimpleNamespace(
        params=[
            param(1, "W", np.full((3, 20), 5.0), ok=True),  # an agreeing parameter adds nothing
            param(2, "W", W2),
            param(3, "b", [0.5, 1.0000001, 0.0, 4.0, 1.0]),
        ]
    )
    picked = sampled_entries(spec, X, comparison)
    chosen = [
        set(layer.tolist()) - set(extra.tolist())
        for layer, extra in zip(picked, random, strict=True)
    ]
    # W^(2): the NaN first, then 3, 2 and 1.5 (not 1.25, fifth; not 1.0, within tolerance);
    # flat index 2 i + j
    assert chosen[1] == {2 * 5 + 1, 2 * 9 + 1, 2 * 3 + 0, 2 * 7 + 0} - set(random[1].tolist())
    # b^(3): after W^(3)'s 2 * 5 = 10 entries, the two beyond 1
    assert chosen[2] == {10 + 1, 10 + 3} - set(random[2].tolist())
    assert chosen[0] == set()


def test_a_fixed_step_is_the_step_of_every_entry():
    # R = (w + b)^2 at w = 0.5, b = 0, x = 1, y = 0 (identity, square loss): dR/dw = dR/db =
    # 2 (w + b) = 1. Central differences are exact on a quadratic, and with a power-of-two step
    # every R value here is exact too, so every estimate is 1 exactly, at the step given
    spec = Spec((1, 1), ("identity",), "square")
    params = [(np.array([[0.5]]), np.array([0.0]))]
    result = finite_differences(params, ONE, np.zeros((1, 1)), spec, step=2.0**-6)
    assert only(result, "step") == only(result, "step", 1) == 2.0**-6
    assert only(result, "gradients") == only(result, "gradients", 1) == 1.0


def test_chunks_of_any_size_give_the_same_estimates():
    rng = np.random.default_rng(5)
    spec = Spec((3, 5, 4, 2), ("tanh", "relu", "identity"), "square")
    params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in spec.shapes()]
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    whole = finite_differences(params, X, Y, spec)
    for chunk in (1, 7, 40):
        parts = finite_differences(params, X, Y, spec, chunk=chunk)
        for field in whole._fields:
            for got, expected in zip(getattr(parts, field), getattr(whole, field), strict=True):
                np.testing.assert_array_equal(got[0], expected[0])
                np.testing.assert_array_equal(got[1], expected[1])


def test_fd_gradients_takes_the_finite_differences_options():
    from reference.fd import fd_gradients

    spec = Spec((1, 2, 1), ("tanh", "identity"), "square")
    params = [(np.array([[0.5, -1.0]]), np.array([0.1, 0.2])), (np.array([[1.0], [2.0]]), [0.0])]
    X, Y = np.array([[1.0], [0.5]]), np.array([[0.0], [1.0]])
    some = fd_gradients(params, X, Y, spec, entries=[np.array([1]), np.array([], int)])
    assert np.isnan(some[0][0]).tolist() == [[True, False]]  # W^(1)_12 alone
    assert np.isnan(np.concatenate([some[1][0].ravel(), some[1][1]])).all()


def test_the_magnitude_is_summed_over_outputs_then_averaged_over_examples():
    # output loss, n = 2 examples of n_L = 3 outputs: Σ_j |h_ij| is 6 and 0, their mean 3 (the
    # column sums 1, 2, 3 would average 2)
    H = np.array([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]])
    assert risk_magnitude(H, np.zeros((2, 3)), "output") == 3.0


def test_the_secant_slope_is_the_steeper_side():
    from reference.fd_rounding import _secant_slope

    # at v = 0 with t = 1: max(-2x, x) rises by 1 to the right and 2 to the left; max(-x, 2x) by
    # 2 to the right and 1 to the left. Either way the steeper side, 2
    def left(x):
        return np.maximum(-2 * x, x)

    def right(x):
        return np.maximum(-x, 2 * x)

    for f in (left, right):
        assert _secant_slope(f, np.array([0.0]), np.array([1.0])).tolist() == [2.0]
    # from v = 1 over t = 0.5, max(-x, 2x) is 2x on both sides: slope 2
    assert _secant_slope(right, np.array([1.0]), np.array([0.5])).tolist() == [2.0]


def test_forward_error_of_an_all_zero_network_is_its_underflow_terms():
    # X = 0, W = 0, b = 0: every product is exactly 0, so only the absolute terms remain.
    # z = 0 errs by 2t (k = 2 terms), tanh's secant slope at 0 over √u is 1 - u/3 ≈ 1, so
    # a = tanh(0) = 0 errs by 2t + t; ℓ = H passes it on: 3t
    got = _forward_error((1, 1), ("tanh",), "output", [([[0.0]], [0.0])], [[0.0]], [[0.0]])
    assert got == pytest.approx(3 * TINY, rel=1e-7, abs=0)
    # two such layers: the second z errs by the first a's 3t times |W| = 0, plus 2t; again 3t
    got = _forward_error(
        (1, 1, 1), ("tanh", "tanh"), "output", [([[0.0]], [0.0])] * 2, [[0.0]], [[0.0]]
    )
    assert got == pytest.approx(3 * TINY, rel=1e-7, abs=0)


def test_the_first_step_of_a_weight_scales_with_its_input_and_a_biases_does_not():
    # identity and the square loss: R is quadratic in every entry, so the first step expands and
    # is kept. u^(1/5) = 2^-10.4: h = 2^-10 for every bias and for W^(1)'s row whose inputs reach
    # at most 1; its row whose inputs reach 8 gets 2^-10.4 / 8 -> 2^-13, and its row that
    # reaches 3 gets 2^-10.4 / 3 = 2^-11.98 -> 2^-12.
    spec = Spec((3, 2), ("identity",), "square")
    params = [(np.zeros((3, 2)), np.zeros(2))]
    X = np.array([[1.0, -8.0, 0.5], [-1.0, 2.0, 3.0]])
    result = finite_differences(params, X, np.ones((2, 2)), spec)
    W_step, b_step = result.step[0]
    assert W_step.tolist() == [[2.0**-10] * 2, [2.0**-13] * 2, [2.0**-12] * 2]
    assert b_step.tolist() == [2.0**-10] * 2


def test_entries_left_out_are_nan_with_no_bounds():
    spec = Spec((1, 2, 1), ("tanh", "identity"), "square")
    params = [(np.array([[0.5, -1.0]]), np.array([0.1, 0.2])), (np.array([[1.0], [2.0]]), [0.0])]
    X, Y = np.array([[1.0], [0.5]]), np.array([[0.0], [1.0]])
    result = finite_differences(params, X, Y, spec, entries=[np.array([1]), np.array([], int)])
    for field, value in (("error", np.inf), ("lower", -np.inf), ("upper", np.inf)):
        (W1, b1), (W2, b2) = getattr(result, field)
        assert W1[0, 0] == value
        assert b1.tolist() == [value] * 2
        assert W2.ravel().tolist() == [value] * 2
        assert b2.tolist() == [value]
        assert np.isfinite(W1[0, 1])  # the one differenced entry has a finite error and interval
    assert result.sampled[0][0].tolist() == [[False, True]]


def test_a_wide_richardson_error_widens_the_kink_interval_beyond_the_one_sided_values():
    # Two entries at once, each with its own interval. Entry 0: the corner of the test above.
    # Entry 1: D = (1 + y, 1, 1) with no even part: every one-sided quotient is D(h/2) = D(h/4) =
    # 1 (spread 0), the value (4 D(h/4) - D(h/2)) / 3 = 1, the coarse one (4 - 1 - y) / 3, so the
    # error y/3 + 6 noise exceeds the one-sided allowance 8 noise: [1 - y/3 - 6 n, 1 + y/3 + 6 n]
    y = 3e-3
    corner, wide = [], []
    for s, d in zip((H, H / 2, H / 4), (1 + y, 1.0, 1.0), strict=True):
        corner += [BASE + s + s * s, BASE]
        wide += [BASE + s * d, BASE - s * d]
    result = stencil_estimate(
        np.array([corner, wide]), BASE, np.array([H, H]), np.array([EPS, EPS])
    )
    assert result.lower.tolist() == pytest.approx(
        [-(H / 4 + 8 * NOISE), 1 - y / 3 - 6 * NOISE], rel=1e-9, abs=0
    )
    assert result.upper.tolist() == pytest.approx(
        [1 + H / 2 + H / 4 + 8 * NOISE, 1 + y / 3 + 6 * NOISE], rel=1e-9, abs=0
    )


def test_a_kink_in_a_later_layer_counts_though_the_layer_after_it_has_none():
    # z^(2) = 1 + (2^-30 - 1) = 2^-30 exactly, a relu a hair above its corner: every step in
    # W^(1) or b^(1) (at least 2^-22 after the retries) moves it across; layer 3's relu stays near
    # 5, far from its own corner. R = relu(relu(z^(2)) + 5) = z^(2) + 5, so ∂R/∂W^(1) = x = 1.
    spec = Spec((1, 1, 1, 1), ("identity", "relu", "relu"), "output")
    params = [
        (np.array([[1.0]]), np.array([0.0])),
        (np.array([[1.0]]), np.array([2.0**-30 - 1.0])),
        (np.array([[1.0]]), np.array([5.0])),
    ]
    result = finite_differences(params, np.array([[1.0]]), np.zeros((1, 1)), spec)
    (kink_W, kink_b), _, _ = result.kink
    assert kink_W[0, 0]
    assert kink_b[0]
    (low, _), (high, _) = result.lower[0], result.upper[0]
    assert low[0, 0] <= 1.0 <= high[0, 0]
