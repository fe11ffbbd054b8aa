"""``check --jobs N``: the cases spread over worker processes give the serial run's verdict,
cases, declines and counterexample (the first failure in the order drawn is the one shrunk)."""

from __future__ import annotations

import mutants
import pytest

import manual
from reference.harness import UsageError, check
from reference.running import BATCH

#: Seed 4 of the default draw first fails ``far_layers_without_g_prime`` at case 65, in the
#: fifth batch of cases: the workers judge later batches before that one is read back.
SEED, FIRST_FAILURE = 4, 65


def declines_softplus(params, X, Y, spec):
    """The deep-layer bug, for networks without softplus; the others are declined."""
    if "softplus" in spec.activations:
        raise NotImplementedError("no softplus")
    return mutants.far_layers_without_g_prime(params, X, Y, spec)


def same(first, second) -> None:
    one, two = first.as_json(), second.as_json()
    one.pop("elapsed_s")
    two.pop("elapsed_s")
    assert one == two
    assert first.draws == second.draws
    assert first.render().splitlines()[1:] == second.render().splitlines()[1:]


def test_two_jobs_find_the_serial_runs_first_failure_and_counterexample():
    serial = check(mutants.far_layers_without_g_prime, examples=200, seed=SEED)
    assert serial.failed_at == FIRST_FAILURE > 4 * BATCH
    parallel = check(mutants.far_layers_without_g_prime, examples=200, seed=SEED, jobs=2)
    same(serial, parallel)


def test_two_jobs_count_the_declined_cases_as_the_serial_run_does():
    serial = check(declines_softplus, examples=200, seed=SEED)
    assert serial.skipped > 0
    assert not serial.ok
    same(serial, check(declines_softplus, examples=200, seed=SEED, jobs=2))


def test_two_jobs_pass_the_same_cases_of_a_right_implementation():
    serial = check(manual.gradients, examples=40, seed=SEED)
    parallel = check(manual.gradients, examples=40, seed=SEED, jobs=2)
    assert serial.ok
    assert parallel.ok
    same(serial, parallel)


def test_an_implementation_other_processes_cannot_import_is_a_usage_error():
    with pytest.raises(UsageError, match="--jobs needs an implementation that other processes"):
        check(lambda params, X, Y, spec: manual.gradients(params, X, Y, spec), jobs=2)
