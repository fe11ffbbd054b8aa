"""Verdicts at the edges: bigger networks, textbook numerics, every failure kind, seeds.

Each mistake in ``mutants.KINDS`` must fail with its kind at default settings, and the
snippet printed with it must show that failure when run; the textbook formulas of
``variants.TEXTBOOK`` must pass; a seed must fix the cases, whatever is imported.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap

import mutants
import numpy as np
import pytest
import variants

import manual
from reference.harness import case_stream, check
from reference.strategies import seeded_cases

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def zoo():
    results = {}

    def run(name: str, seed: int = 0):
        if (name, seed) not in results:
            results[name, seed] = check(getattr(mutants, name), seed=seed, name=f"mutants:{name}")
        return results[name, seed]

    return run


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("name", "shows"),
    [
        ("far_layers_without_g_prime", lambda spec, n: spec.depth >= 5),
        ("blocked_formula_1", lambda spec, n: max(spec.widths[1:]) >= 9),
        ("per_chunk_normalised", lambda spec, n: n >= 9),
    ],
)
def test_mistakes_of_bigger_networks_are_caught_by_the_default_check(zoo, name, seed, shows):
    found = zoo(name, seed)
    assert found.kind == "wrong_values", found.render()
    assert shows(found.case.spec, len(found.case.X))  # shrunk, but not below where it shows


@pytest.mark.parametrize("name", sorted(mutants.KINDS))
def test_every_kind_of_failure_is_named(zoo, name):
    found = zoo(name)
    if name == "dropout_left_on" and found.kind == "wrong_values":
        assert found.diagnosis.formula is None  # the masks agreed on every call: no formula
    else:
        assert found.kind == mutants.KINDS[name], found.render()
    assert found.as_json()["counterexample"]["kind"] == found.kind
    text = found.render()
    assert text.splitlines()[1].startswith("FAIL: ")  # the kind in words, before any formula
    if found.kind != "wrong_values":
        assert found.diagnosis is None or found.diagnosis.formula is None


@pytest.mark.parametrize("name", ["stateful_buffers", "dropout_left_on"])
def test_state_and_randomness_are_nondeterministic_not_a_formula(zoo, name):
    for seed in SEEDS:
        found = zoo(name, seed)
        if found.kind == "wrong_values":
            # dropout over one unit keeps it on every call nine times in ten: calls can agree
            assert name == "dropout_left_on"
            assert found.diagnosis.formula is None, found.render()
            continue
        assert found.kind == "nondeterministic", found.render()
        assert "two calls on the same inputs returned different gradients" in found.render()
        assert found.diagnosis is None


@pytest.mark.parametrize(
    ("name", "formula", "words"),
    [
        ("forward_without_b1", "forward", "leaves out b^(1)"),
        ("output_units_mean", "factor", "divided by n_L"),
        ("norm_clip", "factor", "depends on the case"),
        ("returns_float32", "precision", "precision is lost"),
    ],
)
def test_diagnoses_name_the_real_cause(zoo, name, formula, words):
    for seed in (0, 1):
        found = zoo(name, seed)
        assert found.diagnosis.formula == formula, found.render()
        assert words in " ".join(found.diagnosis.lines())
        assert "loss derivative" not in found.diagnosis.summary


def test_a_layer_whose_gradient_is_not_kept_is_not_blamed_on_formulas_1_2(zoo):
    # layer 2 wrong, layer 1 right: a wrong ∂R/∂z^(2) would have reached layer 1, so naming
    # formulas 1-2 at layer 2 would be confidently wrong
    for seed in SEEDS:
        found = zoo("unkept_layer_gradient", seed)
        assert found.kind == "wrong_values", found.render()
        assert found.case.spec.depth >= 5
        assert found.diagnosis.formula != "1-2", found.render()
        assert "formulas 3-4" in " ".join(found.diagnosis.lines()), found.render()


def test_relu_prime_at_an_exact_zero_is_the_contracts_zero(zoo):
    for seed in SEEDS:
        found = zoo("relu_prime_at_zero_one", seed)
        assert "relu'(0) is taken as 1" in " ".join(found.diagnosis.lines()), found.render()


def test_an_exact_zero_is_no_kink_but_a_computed_zero_may_be():
    """z = 0 exactly where every term has a zero factor and b = 0: no computation can land on
    the other side, so relu'(0) = 1 is wrong there. A z that is 0 only after cancellation
    (3 - 3) may be ±u in another computation: either side of the kink is allowed there."""
    from reference.spec import Spec
    from reference.verify import verify

    spec = Spec((2, 2, 1), ("relu", "identity"), "square")
    Y = np.array([[0.5], [-1.0]])
    W1 = np.array([[1.0, 3.0], [2.0, -3.0]])
    W2 = np.array([[1.5], [-2.0]])
    params = [(W1, np.zeros(2)), (W2, np.array([0.25]))]
    exact = np.array([[0.0, 0.0], [1.0, 0.5]])  # row 1: z^(1) = (0, 0) exactly
    cancelled = np.array([[1.0, 1.0], [1.0, 0.5]])  # z^(1)_2 = 3 - 3 = 0 by cancellation
    assert verify(manual.gradients, params, exact, Y, spec).ok
    assert not verify(mutants.relu_prime_at_zero_one, params, exact, Y, spec).ok
    assert verify(mutants.relu_prime_at_zero_one, params, cancelled, Y, spec).ok


def test_a_float32_result_says_why():
    found = check(mutants.returns_float32, examples=5)
    text = found.render()
    assert "returned float32 for float64 inputs" in text
    assert "float32" in found.as_json()["counterexample"]["error"]


@pytest.mark.parametrize("name", ["softmax_unshifted", "sigmoid_prime_exp_ratio"])
def test_overflow_is_explained_and_the_formulas_rechecked(zoo, name):
    for seed in (0, 1):
        found = zoo(name, seed)
        assert found.kind == "non_finite"
        details = " ".join(found.diagnosis.lines())
        assert "overflow:" in details
        assert "the formulas are right" in details  # on moderate values it agrees
        entries = found.as_json()["counterexample"]["non_finite"]
        assert len(entries) == len(found.result.non_finite) >= 1
        assert all("^(" in e["entry"] for e in entries)  # lecture notation, 1-based
        assert any("NON-FINITE" in row for row in found.render().splitlines())


def test_values_are_printed_with_the_digits_that_tell_them_apart():
    from reference.diagnose import number_pair

    assert number_pair(62.00000001, 62.0) == ("62.00000001", "62")
    assert number_pair(-1e-05 * (1 + 1e-9), -1e-05) == ("-1.000000001e-05", "-1e-05")
    assert number_pair(0.5, 0.25) == ("0.5", "0.25")


def test_a_crash_while_shrinking_is_a_verdict():
    for seed in range(4):
        found = check(mutants.nan_then_unsupported, seed=seed)
        assert found.kind in ("non_finite", "raised")
        json.dumps(found.as_json(), default=str)


def _run_snippet(found) -> dict:
    namespace: dict = {}
    exec(found.snippet(), namespace)
    return namespace


@pytest.mark.parametrize("name", sorted(mutants.KINDS))
def test_every_snippet_reproduces_its_failure(zoo, name):
    found = zoo(name)
    kind = found.kind
    if kind == "raised":
        with pytest.raises(Exception, match=found.result.error.split(": ")[1][:20]):
            _run_snippet(found)
        return
    namespace = _run_snippet(found)
    if kind == "nondeterministic" and name == "dropout_left_on":
        return  # two fresh random masks differ only most of the time
    if kind == "nondeterministic":
        where = found.result.repeat
        at = (where.layer - 1, "Wb".index(where.param))
        first = np.asarray(namespace["first"][at[0]][at[1]])[where.index]
        second = np.asarray(namespace["second"][at[0]][at[1]])[where.index]
        assert first != second
        return
    if kind == "bad_structure":
        from reference.verify import check_structure

        _, error = check_structure(namespace["got"], found.case.spec, np.float64)
        assert error == found.result.error
        return
    got, want = namespace["got"], namespace["want"]
    if kind == "non_finite":
        e = found.result.non_finite[0]
        assert not np.isfinite(np.asarray(got[e.layer - 1]["Wb".index(e.param)])[e.index])
        return
    item = found.mismatches()[0]
    k = "Wb".index(item["param"])
    gap = np.abs(
        np.asarray(got[item["layer"] - 1][k], dtype=np.float64) - want[item["layer"] - 1][k]
    )
    assert gap.max() > item["tolerance"]


def test_a_hang_is_a_timeout_and_its_snippet_hangs():
    found = check(mutants.hangs, examples=2, time_limit=0.2, name="mutants:hangs")
    assert found.kind == "timeout"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, "-c", found.snippet()],
            cwd="tests",
            timeout=3,
            capture_output=True,
        )


@pytest.mark.parametrize("seed", [3])
@pytest.mark.parametrize("name", sorted(variants.TEXTBOOK))
def test_textbook_numerics_are_correct(name, seed):
    found = check(variants.TEXTBOOK[name], seed=seed, examples=100, name=f"variants:{name}")
    assert found.ok, found.render()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(variants.TEXTBOOK))
def test_textbook_numerics_pass_five_hundred_cases(name, seed):
    found = check(variants.TEXTBOOK[name], seed=seed, examples=500, name=f"variants:{name}")
    assert found.ok, found.render()


def _saturated_sigmoid_case():
    # z^(1) = 40 x - 80 = -40 at x = 1: sigmoid(z) = 4.2e-18, which (1 + tanh(z/2)) / 2 gives
    # as 0, an absolute error of 4e-18, within a few units of roundoff of the sigmoid's scale
    # (1) but not relatively; ∂R/∂W^(2) = a^(1) = 4.2e-18 (R = H, one example) shows it
    from reference import Spec

    spec = Spec((1, 1, 1), ("sigmoid", "identity"), "output")
    params = [(np.array([[40.0]]), np.array([-80.0])), (np.array([[1.0]]), np.array([0.0]))]
    return params, np.array([[1.0]]), np.array([[0.0]]), spec


def test_the_strict_standard_asks_relative_accuracy_and_blames_no_formula():
    from reference.diagnose import diagnose
    from reference.verify import verify

    params, X, Y, spec = _saturated_sigmoid_case()
    sloppy = variants.TEXTBOOK["sigmoid_via_tanh"]
    assert verify(sloppy, params, X, Y, spec).ok
    strict = verify(sloppy, params, X, Y, spec, precision="strict")
    assert strict.kind == "wrong_values"
    wrong = [(p.layer, p.param) for p in strict.vs_autodiff.mismatches]
    diagnosis = diagnose(strict, wrong)
    assert diagnosis.formula == "precision"
    assert "strict standard" in diagnosis.summary
    assert verify(manual.gradients, params, X, Y, spec, precision="strict").ok


def test_a_seed_fixes_every_case_whatever_is_imported(tmp_path):
    module = tmp_path / "constants.py"
    module.write_text("\n".join(f"C{i} = {i * 7919 % 100003}" for i in range(3000)))
    program = textwrap.dedent(
        """
        import itertools, sys
        if sys.argv[1] == "yes":
            import constants, hypothesis.strategies
        from reference.harness import case_stream
        for case in itertools.islice(case_stream(11), 120):
            print(case.spec, case.X.sum(), sum(W.sum() for W, _ in case.params))
        """
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", program, flag],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for flag in ("no", "yes")
    ]
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == 120


def test_check_draws_the_seeds_cases_each_once():
    seen = []
    check(manual.gradients, examples=60, seed=4, observe=lambda case, _: seen.append(case))
    expected = list(itertools.islice(case_stream(4), 60))
    assert [c.snippet() for c in seen] == [c.snippet() for c in expected]
    other = list(itertools.islice(case_stream(5), 60))
    assert seen[0].snippet() != other[0].snippet()  # seeds differ from the first case on
    assert len({c.snippet() for c in seen}) == 60


def test_a_strategy_of_ones_own_never_repeats_a_case():
    seen = []
    strategy = seeded_cases(max_depth=2, max_width=3, max_batch=3)
    found = check(
        manual.gradients, examples=150, strategy=strategy, observe=lambda c, _: seen.append(c)
    )
    assert found.ok
    assert len({c.snippet() for c in seen}) == len(seen) == 150


def test_the_plugins_profiles_keep_clear_of_hypothesis_names():
    from reference.pytest_plugin import PROFILES

    assert all(name.startswith("backprop-") for name in PROFILES)


def test_jax_grad_agrees_with_every_entrys_finite_differences_on_wide_networks():
    # verify differences only a sample of a wide network's entries: here, all of them
    from reference.autodiff import autodiff_backward
    from reference.compare import backprop_error_bound, compare_to_fd
    from reference.fd import differenced_in_full, differencing_work, finite_differences
    from reference.strategies import random_case

    rng = np.random.default_rng(3)
    drawn = (random_case(rng, wide_share=1.0) for _ in range(200))
    wide = [
        c
        for c in drawn
        if not differenced_in_full(c.spec, len(c.X))
        and differencing_work(c.spec, len(c.X)) < 30_000_000
    ]
    assert {c.spec.depth for c in wide[:4]} != {1}
    for case in wide[:4]:
        ref = autodiff_backward(case.params, case.X, case.Y, case.spec)
        fd = finite_differences(case.params, case.X, case.Y, case.spec)
        assert all(s.all() for pair in fd.sampled for s in pair)
        bounds = backprop_error_bound(ref, case.params, case.Y, case.spec, np.float64)
        comparison = compare_to_fd(ref.grads, fd, bounds)
        assert comparison.ok, comparison.message()


def test_the_standards_allowance_is_four_units_of_roundoff_of_the_sigmoids_scale():
    # Hand-derived for the saturated case: a^(1) = sigmoid(-40) = 4.25e-18, and with R = H and
    # one example ∂R/∂z^(2) = 1, so ∂R/∂W^(2)_11 = a^(1). The standard lets a^(1) be off by
    # 4u (the sigmoid's scale is 1; 4u |a| is negligible here) and ∂R/∂W^(2)_11 inherits it
    # times |∂R/∂z^(2)| = 1; the tolerance is twice that bound: 8u. The strict standard drops
    # the 4u: what is left is 4u |a| (4e-33) and the slope times z^(1)'s rounding, where z^(1)
    # = 40 - 80 errs by up to 2u 120 = 5e-14 and g' counts at most its own error bound, about
    # 0.0963 e(z) + 4u = 6e-15: 3e-28, doubled.
    from reference.verify import verify

    u = np.finfo(np.float64).eps
    params, X, Y, spec = _saturated_sigmoid_case()
    standard = verify(manual.gradients, params, X, Y, spec).vs_autodiff.params[2]
    strict = verify(manual.gradients, params, X, Y, spec, precision="strict")
    assert (standard.layer, standard.param) == (2, "W")
    assert 8 * u <= standard.tolerance <= 8.01 * u
    assert strict.vs_autodiff.params[2].tolerance <= 1e-27
    for multiple, passes in ((3.0, False), (0.3, True)):
        moved = mutants.perturbed(manual.gradients, 2, "W", (0, 0), multiple * 8 * u)
        assert verify(moved, params, X, Y, spec).ok == passes, multiple


def test_a_relu_kink_story_of_a_shrunk_case_must_hold_for_the_case_as_drawn():
    # g' left out of every hidden layer. Shrunk until its only wrong entries sit at a relu
    # pre-activation that is exactly 0 (z^(2) = 0 * 1 + 0), the case cannot tell that from
    # relu'(0) taken as 1; the case as drawn, with a sigmoid hidden layer, can.
    from mutants import buggy

    from reference import Spec
    from reference.account import mismatches
    from reference.diagnose import diagnose
    from reference.verify import verify

    forgot = buggy("forgot_g_prime")
    spec = Spec((1, 1, 1, 1), ("identity", "relu", "identity"), "output")
    params = [
        (np.array([[0.0]]), np.array([-28.0])),
        (np.array([[0.0]]), np.array([0.0])),
        (np.array([[20.0]]), np.array([0.0])),
    ]
    shrunk = verify(forgot, params, np.array([[0.0]]), np.array([[0.25]]), spec)
    drawn_spec = Spec((2, 3, 1), ("sigmoid", "identity"), "square")
    rng = np.random.default_rng(5)
    drawn_params = [(rng.normal(size=w), rng.normal(size=b)) for w, b in drawn_spec.shapes()]
    drawn = verify(
        forgot, drawn_params, rng.normal(size=(4, 2)), rng.normal(size=(4, 1)), drawn_spec
    )
    assert shrunk.kind == drawn.kind == "wrong_values"
    wrong = [(item["layer"], item["param"]) for item in mismatches(shrunk)]
    alone = " ".join(diagnose(shrunk, wrong).lines())
    assert "relu'(0) is taken as 1" in alone  # all the shrunk case can say
    told = " ".join(diagnose(shrunk, wrong, also=[drawn]).lines())
    assert "relu'(0)" not in told
    assert "in the case as drawn, formula 2 at layer 1: the factor g'(z^(1)) is left out" in told
