"""Bad input gets one clear sentence, on construction and on use."""

from __future__ import annotations

import numpy as np
import pytest

import manual
from reference import Spec, autodiff_gradients, fd_gradients

GOOD = Spec((3, 4, 2), ("relu", "identity"), "square")


def good_arrays():
    params = [(np.ones((3, 4)), np.zeros(4)), (np.ones((4, 2)), np.zeros(2))]
    return params, np.ones((5, 3)), np.ones((5, 2))


IMPLEMENTATIONS = [manual.gradients, autodiff_gradients, fd_gradients]


def test_spec_is_frozen_hashable_and_accepts_lists():
    spec = Spec([3, 4, 2], ["relu", "identity"], "square")
    assert spec == GOOD
    assert hash(spec) == hash(GOOD)
    assert spec.widths == (3, 4, 2)
    assert spec.depth == 2
    assert spec.parameter_count == 3 * 4 + 4 + 4 * 2 + 2
    with pytest.raises(AttributeError):
        spec.loss = "output"


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown activation 'gelu'.*'relu'.*'softplus'"):
        Spec((3, 4, 2), ("gelu", "identity"), "square")


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown loss 'mse'.*'square'.*'softmax_cross_entropy'"):
        Spec((3, 4, 2), ("relu", "identity"), "mse")


def test_activation_count_must_match_layers():
    with pytest.raises(ValueError, match=r"2 layers .* but 1 activations"):
        Spec((3, 4, 2), ("relu",), "square")


@pytest.mark.parametrize(
    ("widths", "error", "match"),
    [
        ((3,), ValueError, "at least one layer"),
        ((3, 0), ValueError, "at least 1"),
        ((3, 2.5), TypeError, "integers"),
        ((3, True), TypeError, "integers"),
        ("32", TypeError, "tuple or list"),
    ],
)
def test_bad_widths(widths, error, match):
    with pytest.raises(error, match=match):
        Spec(widths, ("relu",) * max(len(widths) - 1, 0), "square")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_shapes_that_do_not_chain_name_the_layer_and_both_shapes(implementation):
    params, X, Y = good_arrays()
    params[1] = (np.ones((5, 2)), np.zeros(2))
    with pytest.raises(
        ValueError, match=r"layer 2: W\^\(2\) has shape \(5, 2\).*W\^\(1\) of shape \(3, 4\)"
    ):
        implementation(params, X, Y, GOOD)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_wrong_weight_shape_names_the_layer(implementation):
    params, X, Y = good_arrays()
    params[0] = (np.ones((3, 5)), np.zeros(4))
    with pytest.raises(ValueError, match=r"layer 1: W\^\(1\) has shape \(3, 5\) .* need \(3, 4\)"):
        implementation(params, X, Y, GOOD)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_wrong_bias_shape_names_the_layer(implementation):
    params, X, Y = good_arrays()
    params[1] = (np.ones((4, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"layer 2: b\^\(2\) has shape \(1, 2\) .* need \(2,\)"):
        implementation(params, X, Y, GOOD)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_wrong_layer_count(implementation):
    params, X, Y = good_arrays()
    with pytest.raises(ValueError, match="params has 1 layers but spec widths"):
        implementation(params[:1], X, Y, GOOD)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_wrong_x_shape(implementation):
    params, _, Y = good_arrays()
    with pytest.raises(ValueError, match=r"X has shape \(5, 2\) but must be \(n, 3\)"):
        implementation(params, np.ones((5, 2)), Y, GOOD)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_wrong_y_shape(implementation):
    params, X, _ = good_arrays()
    with pytest.raises(ValueError, match=r"Y has shape \(4, 2\) but must be \(5, 2\)"):
        implementation(params, X, np.ones((4, 2)), GOOD)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_params_not_pairs(implementation):
    _, X, Y = good_arrays()
    with pytest.raises(TypeError, match="list of \\(W, b\\) pairs"):
        implementation("weights", X, Y, GOOD)
    with pytest.raises(TypeError, match=r"layer 1: params entries must be \(W, b\) pairs"):
        implementation([np.ones((3, 4)), np.ones((4, 2))], X, Y, GOOD)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_spec_without_fields(implementation):
    params, X, Y = good_arrays()
    with pytest.raises(TypeError, match="spec must have 'widths', 'activations' and 'loss'"):
        implementation(params, X, Y, {"widths": (3, 4, 2)})


def test_any_object_with_the_three_fields_is_a_spec():
    class Plain:
        widths = (3, 4, 2)
        activations = ("relu", "identity")
        loss = "square"

    params, X, Y = good_arrays()
    expected = manual.gradients(params, X, Y, GOOD)
    for (dW, db), (eW, eb) in zip(manual.gradients(params, X, Y, Plain()), expected, strict=True):
        np.testing.assert_array_equal(dW, eW)
        np.testing.assert_array_equal(db, eb)
