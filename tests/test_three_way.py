"""Random architectures: manual == jax.grad within the error bound, both == finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings

import manual
from reference import Spec, autodiff_backward
from reference.compare import backprop_error_bound, compare_to_fd
from reference.fd import finite_differences
from reference.strategies import Case, cases

FLOAT_DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
@given(case=cases())
def test_manual_agrees_with_both_witnesses(three_way, dtype, case):
    result = three_way(manual.gradients, case, dtype)
    assert result.ok, result.message() + "\n" + case.snippet()


@given(case=cases(max_depth=5, max_width=10, max_batch=10, style="large"))
def test_large_pre_activations_and_saturated_units(three_way, case):
    result = three_way(manual.gradients, case)
    assert result.ok, result.message() + "\n" + case.snippet()


@given(case=cases())
def test_forward_passes_agree(case):
    ours = manual.forward(case.params, case.X, case.spec)
    theirs = autodiff_backward(case.params, case.X, case.Y, case.spec)
    for layer in range(1, case.spec.depth + 1):
        # z may cancel (2 a - 2 a' = 3e-5 from terms near 1), and the two passes sum in different
        # orders: an absolute tolerance relative to the layer's size. Every activation here is
        # 1-Lipschitz, so a = g(z) inherits the same absolute tolerance.
        atol = 1e-12 * (1 + np.abs(theirs.Z[layer]).max())
        np.testing.assert_allclose(ours.Z[layer], theirs.Z[layer], rtol=1e-12, atol=atol)
        np.testing.assert_allclose(ours.A[layer], theirs.A[layer], rtol=1e-12, atol=atol)


@given(case=cases())
def test_pack_unpack_round_trip_in_lecture_order(case):
    w = manual.pack(case.params)
    assert w.shape == (case.spec.parameter_count,)
    names = manual.parameter_names(case.spec)
    assert len(names) == len(w) == len(set(names))
    for (W, b), (W2, b2) in zip(case.params, manual.unpack(w, case.spec), strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    # the entry named W^(l)_ij is W^(l)[i-1, j-1]
    W1 = case.params[0][0]
    comma = "," if max(W1.shape) >= 10 else ""
    first_row = [w[names.index(f"W^(1)_1{comma}{j}")] for j in range(1, W1.shape[1] + 1)]
    np.testing.assert_array_equal(first_row, W1[0])
    assert names[W1.size] == "b^(1)_1"


def test_parameter_names_use_commas_past_nine():
    names = manual.parameter_names((10, 1, 2))
    assert names[:2] == ["W^(1)_1,1", "W^(1)_2,1"]
    assert names[11:13] == ["W^(2)_11", "W^(2)_12"]
    assert manual.parameter_names((2, 2))[:3] == ["W^(1)_11", "W^(1)_12", "W^(1)_21"]


def test_unpack_rejects_the_wrong_length():
    with pytest.raises(
        ValueError, match=r"w has shape \(4,\) but spec widths \(2, 1\) need \(3,\)"
    ):
        manual.unpack(np.zeros(4), Spec((2, 1), ("identity",), "square"))


@given(case=cases(max_depth=3))
def test_manual_under_jit_matches_the_numpy_path(case):
    with jax.enable_x64(True):
        compiled = jax.jit(manual.gradients, static_argnames="spec")
        params = [(jax.numpy.asarray(W), jax.numpy.asarray(b)) for W, b in case.params]
        traced = compiled(
            params, jax.numpy.asarray(case.X), jax.numpy.asarray(case.Y), spec=case.spec
        )
        assert all(isinstance(g, jax.Array) for pair in traced for g in pair)
        traced = [(np.asarray(dW), np.asarray(db)) for dW, db in traced]
    eager = manual.gradients(case.params, case.X, case.Y, case.spec)
    reference = finite_differences(case.params, case.X, case.Y, case.spec)
    fd = compare_to_fd(traced, reference)
    assert fd.ok, fd.message()
    for (tW, tb), (eW, eb) in zip(traced, eager, strict=True):
        # XLA and NumPy round differently; both must sit on the same gradient
        np.testing.assert_allclose(tW, eW, rtol=1e-9, atol=1e-9 * (1 + np.abs(eW).max()))
        np.testing.assert_allclose(tb, eb, rtol=1e-9, atol=1e-9 * (1 + np.abs(eb).max()))


def test_numpy_path_never_touches_jax():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, manual\n"
        "from reference import Spec\n"
        "s = Spec((2, 3, 1), ('tanh', 'identity'), 'square')\n"
        "p = [(np.ones((2, 3)), np.zeros(3)), (np.ones((3, 1)), np.zeros(1))]\n"
        "g = manual.gradients(p, np.ones((4, 2)), np.zeros((4, 1)), s)\n"
        "assert type(g[0][0]) is np.ndarray\n"
        "print('jax' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Eager JAX compiles every new shape (about 0.9 s a case here): a fixed count, whatever the
# profile; the three-way properties above carry the thorough runs.
@settings(max_examples=15)
@given(case=cases(style="float"))
@example(  # tanh(10) at the output: every entry scaled by g' = 8e-9
    Case(
        Spec((6, 1, 1), ("identity", "tanh"), "square"),
        [(np.array([[0.0]] * 5 + [[2.0]]), np.array([0.0])), (np.array([[2.0]]), np.array([2.0]))],
        np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 2.0]]),
        np.array([[0.0]]),
    )
)
def test_independent_jax_grad_agrees_within_the_rounding_bound(case):
    """An autodiff computation written here, outside the project's packages, agrees."""
    acts = {
        "identity": lambda z: z,
        "relu": jax.nn.relu,
        "leaky_relu": jax.nn.leaky_relu,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "softplus": jax.nn.softplus,
    }
    losses = {
        "square": lambda H, Y: jnp.sum((H - Y) ** 2, axis=1),
        "output": lambda H, Y: jnp.sum(H, axis=1),
        "logistic": lambda H, Y: jnp.sum(jax.nn.softplus(H) - Y * H, axis=1),
        "softmax_cross_entropy": lambda H, Y: -jnp.sum(Y * jax.nn.log_softmax(H, axis=1), axis=1),
    }

    def risk(params):
        a = jnp.asarray(case.X)
        for (W, b), name in zip(params, case.spec.activations, strict=True):
            a = acts[name](a @ W + b)
        return jnp.mean(losses[case.spec.loss](a, jnp.asarray(case.Y)))

    with jax.enable_x64(True):
        theirs = manual.pack(
            [
                (np.asarray(dW), np.asarray(db))
                for dW, db in jax.grad(risk)(
                    [(jnp.asarray(W), jnp.asarray(b)) for W, b in case.params]
                )
            ]
        )
    ours = manual.pack(manual.gradients(case.params, case.X, case.Y, case.spec))
    # entry by entry within twice the backward pass's rounding bound, as the harness judges: a
    # fixed normwise 1e-8 false-alarms where a saturated output unit scales every entry by a
    # g'(z) of 1e-8 computed as 1 - tanh(z)^2 (absolutely accurate, not relatively)
    reference = autodiff_backward(case.params, case.X, case.Y, case.spec)
    bound = manual.pack(backprop_error_bound(reference, case.params, case.Y, case.spec, np.float64))
    assert np.all(np.abs(ours - theirs) <= 2 * bound + np.finfo(np.float64).tiny)
