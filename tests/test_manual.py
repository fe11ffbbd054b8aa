r"""manual/ piece by piece: every loss, the risk, the activations, the bias gradient on a batch,
one descent step, dtypes. Expected values are derived by hand (derivations beside them) or come
from another witness (the reference's own forward pass, ``jax.grad``), never from manual/.

The two-example network used below, derived by hand. Spec (1, 2, 1), relu hidden layer,
identity output, square loss; W^(1) = [[1, -1]], b^(1) = (0, 0.5), W^(2) = [[2], [3]],
b^(2) = (0), X = [[1], [2]], Y = [[0], [1]], n = 2.

    example 1 (x = 1): z^(1) = (1, -0.5), a^(1) = (1, 0), z^(2) = H = 2,  H - y = 2
    example 2 (x = 2): z^(1) = (2, -1.5), a^(1) = (2, 0), z^(2) = H = 4,  H - y = 3
    R = (2^2 + 3^2) / 2 = 6.5

    ∂R/∂a^(2) = (2/n)(H - y) = (2, 3) per example; identity output, so ∂R/∂z^(2) = (2, 3)
    ∂R/∂W^(2) = Σ_examples a^(1) ∂R/∂z^(2) = (1*2 + 2*3, 0*2 + 0*3) = (8, 0)ᵀ     [3]
    ∂R/∂b^(2) = 2 + 3 = 5                                                           [4]
    ∂R/∂a^(1) = ∂R/∂z^(2) W^(2)ᵀ: example 1 (4, 6), example 2 (6, 9)                [1]
    ∂R/∂z^(1) = ∂R/∂a^(1) relu'(z^(1)): example 1 (4, 0), example 2 (6, 0)          [2]
    ∂R/∂W^(1) = 1*(4, 0) + 2*(6, 0) = [[16, 0]]                                      [3]
    ∂R/∂b^(1) = (4, 0) + (6, 0) = (10, 0)                                            [4]

Check of ∂R/∂b^(2) from the risk alone: shifting b^(2) by t gives R(t) = ((2+t)^2 + (3+t)^2)/2,
R'(0) = (4 + 6)/2 = 5. Averaging formula 4 over the batch instead of summing would give 2.5 and
(5, 0); taking R as a sum would give 13 and twice every gradient.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import manual
from reference import Spec, autodiff_gradients
from reference.autodiff import computing_in
from reference.network import numpy_activation, per_example_loss

BATCH_SPEC = Spec((1, 2, 1), ("relu", "identity"), "square")
BATCH_PARAMS = [
    (np.array([[1.0, -1.0]]), np.array([0.0, 0.5])),
    (np.array([[2.0], [3.0]]), np.array([0.0])),
]
BATCH_X = np.array([[1.0], [2.0]])
BATCH_Y = np.array([[0.0], [1.0]])
BATCH_RISK = 6.5
BATCH_GRADIENTS = [([[16.0, 0.0]], [10.0, 0.0]), ([[8.0], [0.0]], [5.0])]

LOSSES = ("square", "output", "logistic", "softmax_cross_entropy")


def test_risk_and_gradients_of_a_two_example_batch_by_hand():
    assert manual.risk(BATCH_PARAMS, BATCH_X, BATCH_Y, BATCH_SPEC) == BATCH_RISK
    grads = manual.gradients(BATCH_PARAMS, BATCH_X, BATCH_Y, BATCH_SPEC)
    assert [(dW.tolist(), db.tolist()) for dW, db in grads] == BATCH_GRADIENTS


def test_intermediate_quantities_of_the_batch_by_hand():
    ours = manual.backward(BATCH_PARAMS, BATCH_X, BATCH_Y, BATCH_SPEC)
    assert ours.forward.Z[1].tolist() == [[1.0, -0.5], [2.0, -1.5]]
    assert ours.dA[1].tolist() == [[4.0, 6.0], [6.0, 9.0]]
    assert ours.delta[1].tolist() == [[4.0, 0.0], [6.0, 0.0]]
    assert ours.delta[2].tolist() == [[2.0], [3.0]]
    assert manual.bias_gradient(ours.delta[1]).tolist() == [10.0, 0.0]


# Each loss by hand, for one example (ℓ summed over the output units):
#   square, H = (1, 2), y = (0, 4): ℓ = 1 + 4 = 5, ∂ℓ/∂H = 2(H - y) = (2, -4)
#   output, H = (1, 2): ℓ = 3, ∂ℓ/∂H = (1, 1)
#   logistic, H = (0, log 3), y = (1, 0): ℓ = softplus(0) - 0 + softplus(log 3) - 0
#       = log 2 + log 4 = log 8;  ∂ℓ/∂H = σ(H) - y = (1/2 - 1, 3/4) = (-1/2, 3/4)
#   softmax_cross_entropy, H = (0, log 3), y = (1, 0): softmax(H) = (1/4, 3/4),
#       ℓ = -log(1/4) = log 4;  ∂ℓ/∂H = softmax(H) Σy - y = (-3/4, 3/4)
#   softmax_cross_entropy, unnormalised y = (2, 1): ℓ = -(2 log(1/4) + log(3/4)) = 3 log 4 - log 3,
#       ∂ℓ/∂H = softmax(H) Σy - y = (3/4 - 2, 9/4 - 1) = (-5/4, 5/4)
LOSS_BY_HAND = [
    ("square", [1.0, 2.0], [0.0, 4.0], 5.0, [2.0, -4.0]),
    ("output", [1.0, 2.0], [0.0, 0.0], 3.0, [1.0, 1.0]),
    ("logistic", [0.0, np.log(3)], [1.0, 0.0], np.log(8), [-0.5, 0.75]),
    ("softmax_cross_entropy", [0.0, np.log(3)], [1.0, 0.0], np.log(4), [-0.75, 0.75]),
    (
        "softmax_cross_entropy",
        [0.0, np.log(3)],
        [2.0, 1.0],
        3 * np.log(4) - np.log(3),
        [-1.25, 1.25],
    ),
]


@pytest.mark.parametrize(("name", "H", "Y", "value", "derivative"), LOSS_BY_HAND)
def test_each_loss_and_its_derivative_by_hand(name, H, Y, value, derivative):
    H, Y = np.array([H]), np.array([Y])
    np.testing.assert_allclose(manual.loss(np, name, H, Y), [value], rtol=4e-16)
    np.testing.assert_allclose(manual.loss_derivative(np, name, H, Y), [derivative], rtol=4e-16)


def _targets(name: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    if name == "logistic":
        return rng.uniform(0, 1, size=shape)
    if name == "softmax_cross_entropy":  # soft targets whose rows do not sum to 1
        return rng.uniform(0, 2, size=shape)
    return rng.normal(size=shape)


@pytest.mark.parametrize("name", LOSSES)
def test_each_loss_against_the_reference_and_jax_grad(name):
    rng = np.random.default_rng(11)
    H = 4 * rng.normal(size=(6, 3))
    Y = _targets(name, rng, H.shape)
    reference = per_example_loss(np, name, H, Y)
    np.testing.assert_allclose(manual.loss(np, name, H, Y), reference, rtol=1e-14, atol=1e-14)
    with computing_in(np.float64):
        total = jax.grad(lambda h: per_example_loss(jax.numpy, name, h, Y).sum())
        expected = np.asarray(total(H))
    np.testing.assert_allclose(manual.loss_derivative(np, name, H, Y), expected, rtol=1e-13)


def _reference_risk(params, X, Y, spec) -> float:
    a = X
    for (W, b), name in zip(params, spec.activations, strict=True):
        a = numpy_activation(name)(a @ W + b)
    return float(np.mean(per_example_loss(np, spec.loss, a, Y)))


@pytest.mark.parametrize("name", LOSSES)
def test_risk_is_the_mean_loss_of_the_reference_forward_pass(name):
    rng = np.random.default_rng(5)
    spec = Spec((3, 4, 2), ("tanh", "sigmoid"), name)
    params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in spec.shapes()]
    X = rng.normal(size=(5, 3))
    Y = _targets(name, rng, (5, 2))
    ours = manual.risk(params, X, Y, spec)
    assert ours == pytest.approx(_reference_risk(params, X, Y, spec), rel=1e-14)


# g(0) and g'(0) by hand: sigmoid 1/2 and 1/4, tanh 0 and 1, softplus log 2 and 1/2; the kinks
# take jax.nn's convention, relu'(0) = 0 and leaky_relu'(0) = 1.
AT_ZERO = {
    "identity": (0.0, 1.0),
    "relu": (0.0, 0.0),
    "leaky_relu": (0.0, 1.0),
    "sigmoid": (0.5, 0.25),
    "tanh": (0.0, 1.0),
    "softplus": (np.log(2), 0.5),
}


@pytest.mark.parametrize("name", sorted(AT_ZERO))
def test_each_activation_at_zero_by_hand(name):
    value, slope = AT_ZERO[name]
    zero = np.zeros(1)
    assert manual.activation(np, name, zero).tolist() == [value]
    assert manual.activation_derivative(np, name, zero).tolist() == [slope]


# g' by identities other than manual's formulas, in extended precision: tanh' = 1/cosh^2 z,
# sigmoid' = 1/(4 cosh^2(z/2)), softplus' = 1/(1 + e^-z); the piecewise-linear ones by hand.
_SLOPE_IDENTITIES = {
    "identity": lambda z: np.ones_like(z),
    "relu": lambda z: (z > 0).astype(z.dtype),
    "leaky_relu": lambda z: np.where(z >= 0, 1.0, 0.01).astype(z.dtype),
    "sigmoid": lambda z: 1 / (4 * np.cosh(z / 2) ** 2),
    "tanh": lambda z: 1 / np.cosh(z) ** 2,
    "softplus": lambda z: 1 / (1 + np.exp(-z)),
}


@pytest.mark.parametrize("name", sorted(AT_ZERO))
def test_each_activation_and_derivative_against_independent_forms(name):
    z = np.concatenate([np.linspace(-40, 40, 81), [-1000.0, -1e-300, 1e-300, 1000.0]])
    np.testing.assert_allclose(
        manual.activation(np, name, z), numpy_activation(name)(z), rtol=4e-15, atol=0
    )
    with np.errstate(over="ignore"):  # cosh(500) is inf in extended precision too: slope 0
        exact = _SLOPE_IDENTITIES[name](z.astype(np.longdouble)).astype(np.float64)
    got = manual.activation_derivative(np, name, z)
    assert np.all(np.isfinite(got))
    # the numerical standard: a few u of relative error, or of the activation's scale (1)
    np.testing.assert_allclose(got, exact, rtol=4e-15, atol=4 * np.finfo(np.float64).eps)


def test_leaky_relu_slope_below_zero_by_hand():
    # leaky_relu(z) = 0.01 z for z < 0: at z = -2 the value is -0.02 and the slope 0.01
    z = np.array([-2.0])
    assert manual.activation(np, "leaky_relu", z).tolist() == [-0.02]
    assert manual.activation_derivative(np, "leaky_relu", z).tolist() == [0.01]


def test_one_descent_step_is_w_minus_learning_rate_times_the_gradient():
    result = manual.gradient_descent(
        BATCH_PARAMS, BATCH_X, BATCH_Y, BATCH_SPEC, learning_rate=0.125, steps=1
    )
    for (W, b), (W0, b0), (dW, db) in zip(
        result.params, BATCH_PARAMS, BATCH_GRADIENTS, strict=True
    ):
        np.testing.assert_array_equal(W, W0 - 0.125 * np.array(dW))
        np.testing.assert_array_equal(b, b0 - 0.125 * np.array(db))
    assert result.trajectory.shape == (2, BATCH_SPEC.parameter_count)
    assert result.risks[0] == BATCH_RISK
    assert result.risks[1] == _reference_risk(result.params, BATCH_X, BATCH_Y, BATCH_SPEC)


def test_zero_descent_steps_leave_the_parameters():
    result = manual.gradient_descent(
        BATCH_PARAMS, BATCH_X, BATCH_Y, BATCH_SPEC, learning_rate=0.125, steps=0
    )
    assert result.trajectory.shape == (1, BATCH_SPEC.parameter_count)
    assert result.risks.tolist() == [BATCH_RISK]
    for (W, b), (W0, b0) in zip(result.params, BATCH_PARAMS, strict=True):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


def test_descent_takes_any_gradient_implementation():
    steps = [
        manual.gradient_descent(
            BATCH_PARAMS, BATCH_X, BATCH_Y, BATCH_SPEC, learning_rate=0.125, steps=1, gradient=g
        ).trajectory[1]
        for g in (manual.gradients, autodiff_gradients)
    ]
    np.testing.assert_array_equal(steps[0], steps[1])  # the hand example is exact in both


def _as(dtype, params, *arrays):
    return [(W.astype(dtype), b.astype(dtype)) for W, b in params], *(
        a.astype(dtype) for a in arrays
    )


def test_float32_in_float32_out():
    params, X, Y = _as(np.float32, BATCH_PARAMS, BATCH_X, BATCH_Y)
    assert manual.forward(params, X, BATCH_SPEC).A[-1].dtype == np.float32
    assert manual.risk(params, X, Y, BATCH_SPEC).dtype == np.float32
    grads = manual.gradients(params, X, Y, BATCH_SPEC)
    assert {a.dtype for pair in grads for a in pair} == {np.dtype(np.float32)}
    # the hand example is exact in float32 too
    assert [(dW.tolist(), db.tolist()) for dW, db in grads] == BATCH_GRADIENTS


def test_forward_takes_nested_lists_of_several_rows():
    params = [(W.tolist(), b.tolist()) for W, b in BATCH_PARAMS]
    forward = manual.forward(params, BATCH_X.tolist(), BATCH_SPEC)
    assert forward.A[-1].tolist() == [[2.0], [4.0]]  # H by hand, above


def test_forward_names_a_wrong_input_shape():
    with pytest.raises(ValueError, match=r"X has shape \(2, 3\) but must be \(n, 1\)"):
        manual.forward(BATCH_PARAMS, np.zeros((2, 3)), BATCH_SPEC)


def test_integer_inputs_compute_in_float64():
    # b^(1) = (0, 0.5) becomes (0, 0); z^(1)_2 = -x stays negative: the same gradient as above
    params = [(W.astype(np.int64), b.astype(np.int64)) for W, b in BATCH_PARAMS[:1]]
    params.append((np.array([[2], [3]]), np.array([0])))
    X, Y = BATCH_X.astype(np.int64), BATCH_Y.astype(np.int64)
    grads = manual.gradients(params, X, Y, BATCH_SPEC)
    assert {a.dtype for pair in grads for a in pair} == {np.dtype(np.float64)}
    assert [(dW.tolist(), db.tolist()) for dW, db in grads] == BATCH_GRADIENTS


def test_integer_inputs_give_a_float64_forward_pass():
    # relu and identity keep integers integers, and the forward pass has no 1/n to make floats
    # of them: only the cast to float64 does. z^(1) = x (1, -1) + 0 for x = 1, 2.
    params = [(W.astype(np.int64), b.astype(np.int64)) for W, b in BATCH_PARAMS[:1]]
    params.append((np.array([[2], [3]]), np.array([0])))
    result = manual.forward(params, BATCH_X.astype(np.int64).tolist(), BATCH_SPEC)
    assert {a.dtype for a in [*result.Z[1:], *result.A]} == {np.dtype(np.float64)}
    assert result.Z[1].tolist() == [[1.0, -1.0], [2.0, -2.0]]


def test_jax_inputs_keep_their_float_dtype_and_integers_become_floats():
    import jax.numpy as jnp

    with jax.enable_x64(True):
        params = [
            (jnp.asarray(W, jnp.float32), jnp.asarray(b, jnp.float32)) for W, b in BATCH_PARAMS
        ]
        X, Y = jnp.asarray(BATCH_X, jnp.float32), jnp.asarray(BATCH_Y, jnp.float32)
        grads = manual.gradients(params, X, Y, BATCH_SPEC)
        assert {a.dtype for pair in grads for a in pair} == {np.dtype(np.float32)}
        ints = [(jnp.asarray(W, jnp.int32), jnp.asarray(b, jnp.int32)) for W, b in params]
        grads = manual.gradients(ints, X.astype(jnp.int32), Y.astype(jnp.int32), BATCH_SPEC)
        assert {a.dtype for pair in grads for a in pair} == {np.dtype(np.float64)}
        assert [(np.asarray(dW).tolist(), np.asarray(db).tolist()) for dW, db in grads] == (
            BATCH_GRADIENTS
        )


def test_leaky_relu_keeps_float32():
    spec = Spec((1, 2, 1), ("leaky_relu", "identity"), "square")
    params, X, Y = _as(np.float32, BATCH_PARAMS, BATCH_X, BATCH_Y)
    grads = manual.gradients(params, X, Y, spec)
    assert {a.dtype for pair in grads for a in pair} == {np.dtype(np.float32)}


def test_softmax_cross_entropy_shifts_each_example_by_its_own_maximum():
    # rows of very different size: shifted by the batch's maximum instead of each row's, the
    # second row's exponentials all underflow to 0 and its loss becomes infinite. Per example,
    # -log softmax(H)_1 with H = (1000, 1001) is log(1 + e) and with H = (0, 1) also log(1 + e)
    # (softmax is shift-invariant), so R = log(1 + e).
    spec = Spec((1, 2), ("identity",), "softmax_cross_entropy")
    params = [(np.array([[1.0, 1.0]]), np.array([0.0, 1.0]))]
    X, Y = np.array([[1000.0], [0.0]]), np.array([[1.0, 0.0], [1.0, 0.0]])
    assert manual.risk(params, X, Y, spec) == pytest.approx(np.log1p(np.e), rel=1e-14)


def test_gradient_descent_computes_in_the_dtype_of_the_parameters():
    (params,) = _as(np.float32, BATCH_PARAMS)
    run = manual.gradient_descent(
        params, BATCH_X, BATCH_Y, BATCH_SPEC, learning_rate=0.125, steps=1
    )  # X and Y float64: cast to float32, so the risks are float32 too
    assert run.trajectory.dtype == np.float32
    assert run.risks.dtype == np.float32
    ints = [(W.astype(np.int64), b.astype(np.int64)) for W, b in BATCH_PARAMS[:1]]
    ints.append((np.array([[2], [3]]), np.array([0])))
    run = manual.gradient_descent(ints, BATCH_X, BATCH_Y, BATCH_SPEC, learning_rate=0.125, steps=1)
    assert run.trajectory.dtype == np.float64
    # as integers b^(1) = (0, 0): z^(1)_2 = -x stays negative, so the gradient is the one
    # derived above. w1 = w0 - (1/8) ∇R(w0): W^(1) = [[1, -1]] - [[16, 0]] / 8 = [[-1, -1]],
    # b^(1) = (0, 0) - (10, 0) / 8 = (-1.25, 0), W^(2) = (2, 3) - (8, 0) / 8 = (1, 3), b^(2) = -5/8
    assert run.trajectory[1].tolist() == [-1.0, -1.0, -1.25, 0.0, 1.0, 3.0, -0.625]


def test_forward_names_a_ragged_input():
    with pytest.raises(ValueError, match=r"X has shape None but must be \(n, 1\)"):
        manual.forward(BATCH_PARAMS, [[1.0], [2.0, 3.0]], BATCH_SPEC)
