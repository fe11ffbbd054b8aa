r"""The lecture's exercises, derived by hand, as exact assertions on all three witnesses.

With the ``output`` loss, n = 1 and n_L = 1 the empirical risk is R = H, so every gradient below
is the lecture's ∇_w H.

Exercise 2 (W^(1) = [[2, -3], [2, 1]], W^(2) = [[2, 1], [0, 1]], W^(3) = [[3], [-2]],
x = (2, 1), biases 0, ReLU hidden layers, identity output). Forward, z^(l) = a^(l-1) W^(l):

    z^(1) = (2*2 + 1*2, 2*(-3) + 1*1) = (6, -5)        a^(1) = (6, 0)
    z^(2) = (6*2 + 0*0, 6*1 + 0*1)    = (12, 6)        a^(2) = (12, 6)
    z^(3) = 12*3 + 6*(-2)             = 24             H = 24

Backward (formula numbers from the lecture):

    ∂H/∂a^(3) = 1, ∂H/∂z^(3) = 1 * g'(24) = 1 (identity)                            [2]
    ∂H/∂W^(3)_i1 = 1 * a^(2)_i = (12, 6),    ∂H/∂b^(3) = 1                          [3, 4]
    ∂H/∂a^(2)_j = ∂H/∂z^(3) W^(3)_j1 = (3, -2)                                        [1]
    ∂H/∂z^(2) = (3 * relu'(12), -2 * relu'(6)) = (3, -2)                              [2]
    ∂H/∂W^(2)_ij = ∂H/∂z^(2)_j a^(1)_i = [[6*3, 6*(-2)], [0*3, 0*(-2)]] = [[18, -12], [0, 0]]
    ∂H/∂b^(2) = (3, -2)
    ∂H/∂a^(1)_j = Σ_k ∂H/∂z^(2)_k W^(2)_jk = (3*2 + (-2)*1, 3*0 + (-2)*1) = (4, -2)  [1]
    ∂H/∂z^(1) = (4 * relu'(6), -2 * relu'(-5)) = (4, 0)                               [2]
    ∂H/∂W^(1)_ij = ∂H/∂z^(1)_j x_i = [[2*4, 2*0], [1*4, 1*0]] = [[8, 0], [4, 0]]
    ∂H/∂b^(1) = (4, 0)

In the lecture's order, ∇_w H = (8, 0, 4, 0, 4, 0, 18, -12, 0, 0, 3, -2, 12, 6, 1).

Exercise 1 (W^(1)_11 = -2, W^(1)_21 = -5, W^(1)_31 = 2, x = (3, 2, -2), biases 0, ReLU):
z^(1)_1 = 3*(-2) + 2*(-5) + (-2)*2 = -20 < 0, so relu'(z^(1)_1) = 0 and, by formulas 2 and 3,
∂H/∂W^(1)_11 = ∂H/∂a^(1)_1 * relu'(-20) * x_1 = ∂H/∂a^(1)_1 * 0 * 3 = 0, whatever ∂H/∂a^(1)_1 is,
that is, for every completion of the network.

The ∂H/∂b question: z^(l)_j = Σ_i W^(l)_ij a^(l-1)_i + b^(l)_j, so ∂z^(l)_j/∂b^(l)_j = 1 and
∂H/∂b^(l)_j = ∂H/∂z^(l)_j (formula 4): the bias gradient is the delta itself.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import manual
from reference import Spec, autodiff_backward, autodiff_gradients, fd_gradients
from reference.strategies import networks, specs
from reports.lecture import EXERCISE_2

EXERCISE_2_SPEC = EXERCISE_2["spec"]
EXERCISE_2_PARAMS = EXERCISE_2["params"]
EXERCISE_2_X = EXERCISE_2["X"]
EXERCISE_2_Y = EXERCISE_2["Y"]  # ignored by the output loss
EXERCISE_2_GRADIENT = [8, 0, 4, 0, 4, 0, 18, -12, 0, 0, 3, -2, 12, 6, 1]
WITNESSES = {"manual": manual.gradients, "jax.grad": autodiff_gradients, "fd": fd_gradients}


def test_exercise_2_forward_pass():
    forward = manual.forward(EXERCISE_2_PARAMS, EXERCISE_2_X, EXERCISE_2_SPEC)
    assert [z.tolist() for z in forward.Z[1:]] == [[[6, -5]], [[12, 6]], [[24]]]
    assert [a.tolist() for a in forward.A[1:]] == [[[6, 0]], [[12, 6]], [[24]]]


def test_exercise_2_every_entry_from_every_witness():
    for name, witness in WITNESSES.items():
        grads = witness(EXERCISE_2_PARAMS, EXERCISE_2_X, EXERCISE_2_Y, EXERCISE_2_SPEC)
        assert manual.pack(grads).tolist() == EXERCISE_2_GRADIENT, name


def test_exercise_2_intermediate_quantities():
    by_hand = {"dA": [[[4, -2]], [[3, -2]], [[1]]], "delta": [[[4, 0]], [[3, -2]], [[1]]]}
    ours = manual.backward(EXERCISE_2_PARAMS, EXERCISE_2_X, EXERCISE_2_Y, EXERCISE_2_SPEC)
    theirs = autodiff_backward(EXERCISE_2_PARAMS, EXERCISE_2_X, EXERCISE_2_Y, EXERCISE_2_SPEC)
    assert [d.tolist() for d in ours.dA[1:]] == by_hand["dA"]
    assert [d.tolist() for d in ours.delta[1:]] == by_hand["delta"]
    assert [d.tolist() for d in theirs.dA[1:]] == by_hand["dA"]
    assert [d.tolist() for d in theirs.dZ[1:]] == by_hand["delta"]


def test_exercise_2_bias_gradient_is_the_delta():
    ours = manual.backward(EXERCISE_2_PARAMS, EXERCISE_2_X, EXERCISE_2_Y, EXERCISE_2_SPEC)
    for (_, db), delta in zip(ours.grads, ours.delta[1:], strict=True):
        assert db.tolist() == delta[0].tolist()


@given(
    spec=specs(min_depth=1, max_depth=3, max_width=4).map(
        lambda s: Spec((3, *s.widths[1:]), ("relu", *s.activations[1:]), s.loss)
    ),
    data=st.data(),
)
def test_exercise_1_for_any_completion_of_the_network(spec, data):
    params = data.draw(networks(spec))
    W1 = params[0][0]
    W1[:, 0] = [-2.0, -5.0, 2.0]  # W^(1)_11, W^(1)_21, W^(1)_31 from the exercise
    params[0] = (W1, np.zeros_like(params[0][1]))
    params = [(W, np.zeros_like(b)) for W, b in params]  # all biases 0
    X = np.array([[3.0, 2.0, -2.0]])
    Y = np.zeros((1, spec.widths[-1]))
    for name, witness in WITNESSES.items():
        assert witness(params, X, Y, spec)[0][0][0, 0] == 0.0, name


@given(spec=specs(max_depth=3, max_width=4), data=st.data())
def test_bias_gradient_equals_pre_activation_gradient(spec, data):
    params = data.draw(networks(spec, style="integer"))
    X = np.arange(spec.widths[0], dtype=float).reshape(1, -1) - 1.0
    Y = np.ones((1, spec.widths[-1])) / spec.widths[-1]
    ours = manual.backward(params, X, Y, spec)
    theirs = autodiff_backward(params, X, Y, spec)
    for layer in range(1, spec.depth + 1):
        np.testing.assert_array_equal(ours.grads[layer - 1][1], ours.delta[layer].sum(axis=0))
        np.testing.assert_array_equal(theirs.grads[layer - 1][1], theirs.dZ[layer].sum(axis=0))
