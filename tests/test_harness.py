"""The harness on the mutant zoo and on correct implementations written differently.

Every bug must be caught at default settings, shrunk to a small case, located exactly where it
changes the gradient, and diagnosed by the formula it breaks; every correct variant must pass.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
import variants
from mutants import BUGS, buggy

import manual
from reference.harness import DEFAULT_EXAMPLES, check

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def zoo():
    """check(bug, seed) at default settings, each run once for the module."""
    results = {}

    def run(bug: str, seed: int):
        if (bug, seed) not in results:
            results[bug, seed] = check(buggy(bug), seed=seed, name=f"mutants:{bug}")
        return results[bug, seed]

    return run


def changed_places(implementation, case) -> set[tuple[int, str]]:
    """Where ``implementation`` differs from the hand-written backprop beyond rounding."""
    right = manual.gradients(case.params, case.X, case.Y, case.spec)
    wrong = implementation(case.params, case.X, case.Y, case.spec)
    places = set()
    for layer, (good, bad) in enumerate(zip(right, wrong, strict=True), start=1):
        for param, g, b in zip("Wb", good, bad, strict=True):
            scale = float(np.abs(g).max(initial=0.0))
            if np.any(np.abs(np.asarray(b, dtype=np.float64) - g) > 1e-6 * scale + 1e-307):
                places.add((layer, param))
    return places


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_every_bug_is_caught_and_located(zoo, bug, seed):
    found = zoo(bug, seed)
    assert not found.ok, f"{bug} passed {found.examples} cases"
    assert found.examples <= DEFAULT_EXAMPLES
    if found.result.error is not None:
        assert found.mismatches() == []
        return
    reported = {(item["layer"], item["param"]) for item in found.mismatches()}
    if bug == "float32_inside":  # rounding-sized errors: no place is "the" place
        assert reported
        return
    assert reported == changed_places(buggy(bug), found.case)


# bug -> the formula the diagnosis must name, and words it must use
DIAGNOSES = {
    # (the mistake is in every hidden layer: the diagnosis names the highest, where it enters)
    "forgot_g_prime": ("1-2", "is left out"),
    "g_prime_at_a": ("1-2", "instead of z^("),
    "missing_1_over_n": ("factor", "1/n of the empirical risk is missing"),
    "loss_sign": ("factor", "sign of the loss derivative"),
    "bias_mean": ("4", "averaged over the batch"),
    "deep_layer_sign": ("3", "formula 3"),
    "float32_inside": ("precision", "precision is lost"),
    "square_no_factor_2": ("factor", "lost a factor 2"),
    "logistic_forgot_sigmoid": ("output", "loss derivative"),
    "first_example_dW": ("3", "formula 3"),
    "weight_decay": ("penalty", "weight-decay (L2) penalty"),
    "next_layer_g_prime": ("1-2", "formulas 1-2"),
}


@pytest.mark.parametrize("bug", sorted(DIAGNOSES))
def test_the_diagnosis_names_the_broken_formula(zoo, bug):
    formula, words = DIAGNOSES[bug]
    for seed in SEEDS:
        diagnosis = zoo(bug, seed).diagnosis
        assert diagnosis.formula == formula, diagnosis.lines()
        assert words in " ".join(diagnosis.lines())


@pytest.mark.parametrize(
    ("bug", "depth", "batch"),
    [("bias_mean", 1, 2), ("missing_1_over_n", 1, 2), ("deep_layer_sign", 3, 1)],
)
def test_failures_shrink_to_the_smallest_network(zoo, bug, depth, batch):
    # bias_mean and a missing 1/n need two examples and nothing else; the sign bug needs three
    # layers. Every width can be 1.
    for seed in SEEDS:
        case = zoo(bug, seed).case
        assert case.spec.depth == depth
        assert set(case.spec.widths) == {1}, case.spec
        assert len(case.X) == batch


def test_output_layer_bugs_are_blamed_on_the_output(zoo):
    for seed in SEEDS:
        diagnosis = zoo("output_g_prime_skipped", seed).diagnosis
        assert diagnosis.layer == zoo("output_g_prime_skipped", seed).case.spec.depth
        assert "output activation's g'" in " ".join(diagnosis.lines())


def test_the_failure_text_has_snippet_and_table(zoo):
    text = zoo("bias_mean", 0).render()
    assert "FAIL: wrong values" in text
    assert "at case" in text
    header = next(line for line in text.splitlines() if "layer  param" in line).split()
    assert header == [
        "layer",
        "param",
        "entry",
        "implementation",
        "jax.grad",
        "finite",
        "diff.",
        "verdict",
    ]
    snippet = text.split("Reproduce it:\n", 1)[1]
    namespace: dict = {}
    exec("\n".join(line[4:] for line in snippet.splitlines()[:-4]), namespace)  # the case
    assert namespace["spec"] == zoo("bias_mean", 0).case.spec


def test_the_same_seed_draws_the_same_counterexample():
    first = check(buggy("leaky_slope"), seed=5)
    again = check(buggy("leaky_slope"), seed=5)
    assert first.examples == again.examples
    assert first.case.snippet() == again.case.snippet()


@pytest.mark.parametrize("name", [n for n in variants.CORRECT if n != "jax_jit"])
def test_correct_implementations_written_differently_pass(name):
    found = check(getattr(variants, name), seed=0)
    assert found.ok, found.render()
    assert found.examples == DEFAULT_EXAMPLES


def test_the_hand_written_backprop_passes_a_thousand_random_cases():
    # no false alarm over many architectures (seed fixed, so a failure here reproduces)
    found = check(manual.gradients, examples=1000, seed=2026)
    assert found.ok, found.render()
    assert found.examples == 1000


def test_keep_going_runs_every_case_and_reports_the_first_failure():
    seen = []
    found = check(
        buggy("bias_mean"),
        examples=24,
        seed=0,
        keep_going=True,
        observe=lambda case, result: seen.append(result.ok),
    )
    assert found.examples == len(seen) == 24
    assert not found.ok
    assert found.failed_at == seen.index(False) + 1
    stopped = check(buggy("bias_mean"), examples=24, seed=0)
    assert stopped.examples == stopped.failed_at == found.failed_at


def test_one_case_of_a_run_is_checked_alone_by_its_draw_number():
    seen = []
    run = check(manual.gradients, examples=12, seed=8, observe=lambda c, _: seen.append(c))
    assert run.draws == list(range(1, 13))  # nothing declined, nothing repeated
    for number in (1, 7, 12):
        alone = []
        found = check(
            manual.gradients, seed=8, case=number, observe=lambda c, _, seen=alone: seen.append(c)
        )
        assert found.examples == 1
        assert found.draws == [number]
        (case,) = alone
        assert case.spec == seen[number - 1].spec
        assert np.array_equal(case.X, seen[number - 1].X)


def test_the_draw_numbers_skip_what_the_implementation_declines():
    def tanh_only(params, X, Y, spec):
        if set(spec.activations) != {"tanh"}:
            raise NotImplementedError
        return manual.gradients(params, X, Y, spec)

    found = check(tanh_only, examples=2, seed=1, depth=1, activations="tanh", losses="square")
    assert len(found.draws) == 2
    declined = check(tanh_only, examples=3, seed=1, depth=1, losses="square")
    assert declined.skipped > 0
    assert len(declined.draws) == declined.examples
    assert declined.draws[-1] == declined.examples + declined.skipped
    for number in declined.draws:
        assert check(tanh_only, seed=1, depth=1, losses="square", case=number).ok


@pytest.mark.parametrize("catches", [False, True])
def test_an_implementation_that_hangs_fails_at_the_time_limit(catches):
    def hangs(params, X, Y, spec):
        try:
            while True:
                pass
        except Exception:  # an implementation's own handler cannot swallow the limit
            if catches:
                return manual.gradients(params, X, Y, spec)
            raise

    before = signal.getsignal(signal.SIGALRM)
    found = check(hangs, examples=5, time_limit=0.2)
    assert not found.ok
    assert found.result.error == "did not return within 0.2 s (the per-case time limit)."
    assert found.shrink_examples == 0
    assert "not shrunk: every try takes the time limit" in found.render()
    assert signal.getsignal(signal.SIGALRM) is before  # handler and timer restored
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_someone_elses_pending_alarm_is_left_alone():
    fired = []
    before = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 60.0)
        assert check(manual.gradients, examples=3, time_limit=0.5).ok
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 0 < remaining <= 60.0  # still pending: neither cancelled nor replaced
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert not fired


def test_keep_going_stops_at_a_case_that_runs_out_of_time():
    def hangs(params, X, Y, spec):
        while True:
            pass

    found = check(hangs, examples=5, time_limit=0.2, keep_going=True)
    assert found.examples == found.failed_at == 1  # not 5 x the limit, nor a replay
    assert "did not return within 0.2 s" in found.result.error


def test_without_a_time_limit_a_slow_implementation_is_judged_on_its_result():
    def slow(params, X, Y, spec):
        time.sleep(0.3)
        return manual.gradients(params, X, Y, spec)

    assert check(slow, examples=2, time_limit=None).ok
    assert not check(slow, examples=2, time_limit=0.1).ok


def test_a_strategy_of_ones_own_draws_the_cases():
    from reference.strategies import cases

    seen = []
    strategy = cases(min_depth=3, max_depth=3, max_width=3, activations=("tanh",))
    found = check(
        manual.gradients,
        examples=16,
        strategy=strategy,
        observe=lambda case, result: seen.append(case.spec),
    )
    assert found.ok, found.render()
    assert len(seen) == 16
    assert all(spec.depth == 3 and set(spec.activations) == {"tanh"} for spec in seen)
    assert not check(buggy("bias_mean"), examples=16, strategy=strategy).ok


def test_a_jitted_implementation_returning_jax_arrays_passes():
    # every new shape compiles the implementation itself, so fewer cases
    found = check(variants.jax_jit, examples=25, seed=0)
    assert found.ok, found.render()


def test_float32_mode_passes_a_float32_implementation_and_fails_a_wrong_one():
    def in_float32(params, X, Y, spec):
        assert X.dtype == np.float32
        return manual.gradients(params, X, Y, spec)

    assert check(in_float32, examples=50, dtype=np.float32).ok
    assert not check(buggy("bias_mean"), examples=50, dtype=np.float32).ok


def _raises(params, X, Y, spec):
    raise RuntimeError("not written yet")


def _returns_none(params, X, Y, spec):
    return None


def _one_layer_short(params, X, Y, spec):
    return manual.gradients(params, X, Y, spec)[1:]


def _transposed_shapes(params, X, Y, spec):
    return [(dW.T, db) for dW, db in manual.gradients(params, X, Y, spec)]


def _nan(params, X, Y, spec):
    grads = manual.gradients(params, X, Y, spec)
    grads[0][1][...] = np.nan
    return grads


def _inf(params, X, Y, spec):
    return [(dW + np.inf, db) for dW, db in manual.gradients(params, X, Y, spec)]


def _text(params, X, Y, spec):
    return "gradients"


def _exits(params, X, Y, spec):
    raise SystemExit(3)


def _unpaired(params, X, Y, spec):
    return [dW for dW, _ in manual.gradients(params, X, Y, spec)]


@pytest.mark.parametrize(
    ("implementation", "words"),
    [
        (_raises, "raised RuntimeError: not written yet"),
        (_returns_none, "returned None"),
        (_one_layer_short, "layers, expected"),
        (_transposed_shapes, "has shape"),
        (_nan, "where the gradient is finite: b^(1)_1 is nan"),
        (_inf, "where the gradient is finite: W^(1)_11 is inf"),
        (_text, "returned str"),
        (_exits, "raised SystemExit"),
        (_unpaired, "expected a (dW, db) pair"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:] or None,
)
def test_a_misbehaving_implementation_is_a_fail_not_a_crash(implementation, words):
    found = check(implementation, examples=20)
    assert not found.ok
    assert words in found.result.error
    assert found.as_json()["counterexample"]["error"] == found.result.error
    assert "FAIL" in found.render()
