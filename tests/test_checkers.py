"""The checkers catch wrong gradients, name where they are wrong, and raise no false alarm."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from mutants import buggy, perturbed

import manual
from reference import Spec
from reference.strategies import Case, cases

# A network where every bug below shows: depth 3, no square weight matrix (a wrong transpose
# then fails by shape), n > 1, smooth activations with g'(z) != g'(a), every unit active.
RNG = np.random.default_rng(20261126)


def normal_case(spec: Spec, n: int) -> Case:
    """Standard-normal parameters, inputs and targets for ``spec``, n examples."""
    params = [(RNG.normal(size=w), RNG.normal(size=b)) for w, b in spec.shapes()]
    return Case(
        spec, params, RNG.normal(size=(n, spec.widths[0])), RNG.normal(size=(n, spec.widths[-1]))
    )


CASE = normal_case(Spec((3, 4, 5, 2), ("tanh", "sigmoid", "softplus"), "square"), 6)
SQUARE_CASE = normal_case(Spec((3, 3, 3, 3), ("tanh", "tanh", "identity"), "square"), 4)
ALL = {(layer, param) for layer in (1, 2, 3) for param in "Wb"}

# bug -> the (layer, parameter) pairs it must be reported at on CASE
EXPECTED = {
    "forgot_g_prime": ALL - {(3, "W"), (3, "b")},  # hidden layers only
    "g_prime_at_a": ALL - {(3, "W"), (3, "b")},
    "missing_1_over_n": ALL,
    "loss_sign": ALL,
    "bias_mean": {(1, "b"), (2, "b"), (3, "b")},
    "deep_layer_sign": {(1, "W")},
    "float32_inside": ALL,
}


def wrong_places(result) -> set[tuple[int, str]]:
    return {(p.layer, p.param) for p in result.vs_autodiff.mismatches}


def test_the_correct_implementation_passes_the_fixed_cases(three_way):
    for case in (CASE, SQUARE_CASE):
        result = three_way(manual.gradients, case)
        assert result.ok, result.message()


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_typical_bug_is_caught_and_located(three_way, bug):
    result = three_way(buggy(bug), CASE)
    assert not result.ok
    assert result.error is None, result.error
    assert wrong_places(result) == EXPECTED[bug], result.message()
    assert {(p.layer, p.param) for p in result.vs_fd.mismatches} == EXPECTED[bug]


def test_float32_inside_is_flagged_by_dtype_too(three_way):
    def silently_float32(params, X, Y, spec):
        return buggy("float32_inside")(params, X, Y, spec)

    result = three_way(silently_float32, CASE)
    assert not result.vs_autodiff.ok


def test_returning_float32_for_float64_inputs_is_a_problem(three_way):
    def returns_float32(params, X, Y, spec):
        return [
            (dW.astype(np.float32), db.astype(np.float32))
            for dW, db in manual.gradients(params, X, Y, spec)
        ]

    result = three_way(returns_float32, CASE)
    assert any("precision was lost" in problem for problem in result.vs_autodiff.problems)


def test_wrong_transpose_fails_on_square_and_non_square_weights(three_way):
    square = three_way(buggy("wrong_transpose"), SQUARE_CASE)
    assert not square.ok
    assert wrong_places(square) == {(1, "W"), (1, "b"), (2, "W"), (2, "b")}, square.message()
    non_square = three_way(buggy("wrong_transpose"), CASE)
    assert not non_square.ok
    assert "raised ValueError" in non_square.error


@pytest.mark.parametrize(
    ("layer", "param", "index"), [(1, "W", (2, 3)), (2, "b", (4,)), (3, "W", (0, 1))]
)
def test_one_perturbed_entry_is_named(three_way, layer, param, index):
    result = three_way(perturbed(manual.gradients, layer, param, index, 1e-3), CASE)
    [mismatch] = result.vs_autodiff.mismatches
    assert (mismatch.layer, mismatch.param, mismatch.bad_entries) == (layer, param, [index])
    [fd_mismatch] = result.vs_fd.mismatches
    assert (fd_mismatch.layer, fd_mismatch.param, fd_mismatch.bad_entries) == (
        layer,
        param,
        [index],
    )
    assert f"layer {layer}, {param}[" in result.message()


@given(case=cases(style="float"), data=st.data())
def test_no_tolerance_hides_a_bug_of_one_millionth(three_way, case, data):
    """Any entry moved by 1e-6 of the gradient's size is caught by jax.grad's bound, and by
    the finite differences wherever the entry is not a kink."""
    grads = manual.gradients(case.params, case.X, case.Y, case.spec)
    size = max(float(np.abs(g).max()) for pair in grads for g in pair)
    assume(size > 1e-3)  # a vanishing gradient leaves no bug of relative size to find
    layer = data.draw(st.integers(1, case.spec.depth))
    param = data.draw(st.sampled_from("Wb"))
    shape = grads[layer - 1]["Wb".index(param)].shape
    index = tuple(data.draw(st.integers(0, dim - 1)) for dim in shape)
    result = three_way(perturbed(manual.gradients, layer, param, index, 1e-6 * size), case)
    bad = [(p.layer, p.param, p.bad_entries) for p in result.vs_autodiff.mismatches]
    assert bad == [(layer, param, [index])], result.message()
    if not result.fd.kink[layer - 1]["Wb".index(param)][index]:
        fd_bad = [(p.layer, p.param, p.bad_entries) for p in result.vs_fd.mismatches]
        assert fd_bad == [(layer, param, [index])], result.message()


def test_saturated_units_raise_no_false_alarm(three_way):
    # pre-activations of ±300 to ±900: sigmoid and tanh are flat to the last bit, g' ≈ 0
    spec = Spec((2, 3, 3, 1), ("sigmoid", "tanh", "sigmoid"), "logistic")
    params = [
        (np.array([[300.0, -300.0, 450.0], [-100.0, 200.0, 150.0]]), np.array([0.5, -0.5, 0.0])),
        (np.array([[400.0, -400.0, 0.001], [-300.0, 500.0, 0.0], [900.0, 0.0, -1.0]]), np.zeros(3)),
        (np.array([[30.0], [-20.0], [1.0]]), np.array([0.1])),
    ]
    X = np.array([[1.0, 0.5], [-1.0, 2.0], [0.3, -0.7]])
    Y = np.array([[1.0], [0.0], [1.0]])
    case = Case(spec, params, X, Y)
    for dtype in (np.float64, np.float32):
        result = three_way(manual.gradients, case, dtype)
        assert result.ok, result.message()


def test_cancelling_sums_raise_no_false_alarm(three_way):
    # ∂R/∂W^(1) sums examples whose contributions cancel to a tiny fraction of their size
    spec = Spec((1, 2, 1), ("tanh", "identity"), "square")
    params = [
        (np.array([[1e-3, -2e-3]]), np.array([0.0, 0.0])),
        (np.array([[1e4], [1e4]]), np.array([0.0])),
    ]
    X = np.array([[1.0], [-1.0], [1.0 + 1e-12], [-1.0]])
    Y = np.array([[5.0], [5.0], [5.0], [5.0]])
    case = Case(spec, params, X, Y)
    for dtype in (np.float64, np.float32):
        result = three_way(manual.gradients, case, dtype)
        assert result.ok, result.message()


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (None, "returned None"),
        ([], "returned 0 layers, expected 3"),
        ("text", "returned str"),
        ([(np.zeros((3, 4)), np.zeros(4))] * 3, "layer 2: dW has shape (3, 4), expected (4, 5)"),
        ([(np.zeros((3, 4)),)] * 3, "layer 1: expected a (dW, db) pair"),
    ],
)
def test_malformed_results_are_failures_not_crashes(three_way, returned, message):
    result = three_way(lambda params, X, Y, spec: returned, CASE)
    assert not result.ok
    assert message in result.error


def test_non_finite_results_are_failures(three_way):
    def with_nan(params, X, Y, spec):
        grads = manual.gradients(params, X, Y, spec)
        grads[1][0][0, 0] = np.nan
        return grads

    result = three_way(with_nan, CASE)
    assert not result.ok
    assert result.kind == "non_finite"
    assert "1 non-finite entry where the gradient is finite: W^(2)_11 is nan" in result.error


def test_raising_implementation_is_a_failure(three_way):
    def raises(params, X, Y, spec):
        raise ZeroDivisionError("oops")

    result = three_way(raises, CASE)
    assert not result.ok
    assert result.error == "raised ZeroDivisionError: oops"


def test_jax_arrays_and_lists_are_accepted(three_way):
    import jax.numpy as jnp

    def as_lists(params, X, Y, spec):
        return [[dW.tolist(), db.tolist()] for dW, db in manual.gradients(params, X, Y, spec)]

    def as_jax(params, X, Y, spec):
        return tuple(
            (jnp.asarray(dW), jnp.asarray(db)) for dW, db in manual.gradients(params, X, Y, spec)
        )

    assert three_way(as_lists, CASE).ok
    float32 = three_way(as_jax, CASE, np.float32)
    assert float32.ok, float32.message()


def test_a_mismatch_is_described_in_one_exact_line():
    # identity units, x = 1, y = 0, W^(1) = [1 2], W^(2) = [1 1]^T, b = 0: z^(1) = a^(1) = (1, 2),
    # H = 3, δ^(2) = ℓ' = 2 (3 - 0) = 6, ∂R/∂W^(2) = a^(1)T δ^(2) = (6, 12)^T, ∂R/∂b^(2) = 6,
    # δ^(1) = δ^(2) W^(2)T = (6, 6), ∂R/∂W^(1) = x δ^(1) = (6 6), ∂R/∂b^(1) = (6, 6): all exact.
    from reference.autodiff import autodiff_backward
    from reference.compare import compare_to_autodiff

    spec = Spec((1, 2, 1), ("identity", "identity"), "square")
    params = [(np.array([[1.0, 2.0]]), np.zeros(2)), (np.array([[1.0], [1.0]]), np.zeros(1))]
    X, Y = np.array([[1.0]]), np.array([[0.0]])
    exact = [(np.array([[6.0, 6.0]]), np.array([6.0, 6.0])), (np.array([[6.0], [12.0]]), [6.0])]
    ref = autodiff_backward(params, X, Y, spec)
    planted = [(np.array([[6.0, 6.5]]), np.array([6.0, 6.0])), exact[1]]
    result = compare_to_autodiff(planted, ref, params, Y, spec, np.float64)
    (wrong,) = result.mismatches
    tolerance = float(wrong.tolerance)
    assert 0 < tolerance < 1e-13
    assert result.message() == (
        "against jax.grad: DISAGREES\n"
        f"  layer 1, W[0, 1] (W^(1)_12): candidate 6.5 vs witness 6, |diff| 0.5 "
        f"(tolerance {tolerance:.3g}), 1 entries wrong"
    )
    agreeing = compare_to_autodiff(exact, ref, params, Y, spec, np.float64)
    assert agreeing.message() == "against jax.grad: agrees"
    line = agreeing.params[2].describe()  # layer 2's W, worst entry (6 vs 6) at its first
    assert line.startswith("layer 2, W[0, 0] (W^(2)_11): candidate 6 vs witness 6, |diff| 0 ")
    assert line.endswith("), ok")


def test_lecture_indices_take_commas_from_ten_on():
    from reference.compare import lecture_index

    assert lecture_index("W", 2, (0, 2), (3, 9)) == "W^(2)_13"
    assert lecture_index("W", 1, (8, 8), (9, 9)) == "W^(1)_99"
    assert lecture_index("W", 1, (0, 0), (10, 1)) == "W^(1)_1,1"  # the array reaches 10
    assert lecture_index("W", 3, (9, 0), (10, 2)) == "W^(3)_10,1"
    assert lecture_index("b", 1, (10,), (11,)) == "b^(1)_11"


def test_a_float32_result_is_named_by_layer_and_parameter():
    from reference.compare import _dtype_problems

    pairs = [
        (np.zeros((1, 1)), np.zeros(1)),
        (np.zeros((1, 1), np.float32), np.zeros(1, np.int64)),
    ]
    assert _dtype_problems(pairs, np.float64) == [
        "layer 2, W: returned float32 for float64 inputs; precision was lost."
    ]
    assert _dtype_problems(pairs, np.float32) == []
