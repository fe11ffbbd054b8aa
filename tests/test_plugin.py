"""``pytest --backprop-impl MODULE:FUNCTION``, run as a user would: a fresh pytest process in a
directory of their own."""

from __future__ import annotations

import pathlib

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
HOMEWORK = """
import numpy as np
from manual import gradients as right


def gradients(params, X, Y, spec):
    return right(params, X, Y, spec)


def averaged_bias(params, X, Y, spec):
    return [(dW, db / len(X)) for dW, db in right(params, X, Y, spec)]
"""


@pytest.fixture
def homework(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(homework=HOMEWORK)
    return pytester


def test_a_correct_implementation_passes(homework):
    result = homework.runpytest_subprocess(
        "--backprop-impl",
        "homework:gradients",
        "--hypothesis-profile",
        "ci",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=2)


def test_a_bug_fails_with_the_counterexample_and_the_diagnosis(homework):
    result = homework.runpytest_subprocess(
        "--backprop-impl",
        "homework:averaged_bias",
        "--hypothesis-seed",
        "7",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(failed=1, passed=1)  # exercise 2 has n = 1: no batch to average
    result.stdout.fnmatch_lines(
        [
            "*FAIL: wrong values*",
            "*formula 4*",
            "*Reproduce it:*",
            "*from homework import averaged_bias*",
        ]
    )
    assert "run again with --hypothesis-seed" not in result.stdout.str()  # the seed was given


def test_the_cases_can_run_on_worker_processes(homework):
    # the same counterexample as one process gives (shrunk case and diagnosis), from two
    result = homework.runpytest_subprocess(
        *("--backprop-impl", "homework:averaged_bias", "--backprop-jobs", "2"),
        *("--hypothesis-seed", "7", "-p", "no:cacheprovider"),
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*FAIL: wrong values*", "*formula 4*"])
    bad = homework.runpytest_subprocess(
        "--backprop-impl", "homework:gradients", "--backprop-jobs", "0"
    )
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--backprop-jobs must be at least 1" in bad.stderr.str()


def test_the_profile_and_the_seed_set_the_cases(homework):
    homework.makeconftest(
        "from hypothesis import settings\n"
        "settings.register_profile('three', max_examples=3, deadline=None)\n"
    )
    result = homework.runpytest_subprocess(
        "--backprop-impl",
        "homework:gradients",
        "--hypothesis-profile",
        "three",
        "--hypothesis-seed",
        "12",
        "-rP",
        "-k",
        "random",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*homework:gradients: 3 random cases, seed 12, float64*"])


def test_a_bad_target_is_a_usage_error(homework):
    result = homework.runpytest_subprocess("--backprop-impl", "homework:nothing_here")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--backprop-impl: module 'homework' has no attribute*"])


def test_without_the_option_the_plugin_adds_nothing(homework):
    homework.makepyfile(test_own="def test_mine():\n    assert True\n")
    result = homework.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# --- the suite's own configuration -----------------------------------------------------------


def _suite_warning_filters() -> list[str]:
    import pathlib
    import tomllib

    pyproject = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"
    with open(pyproject, "rb") as stream:
        return tomllib.load(stream)["tool"]["pytest"]["ini_options"]["filterwarnings"]


NOISY_PLUGIN = """
import warnings


def pytest_configure(config):
    # as pytest-benchmark does under pytest-xdist
    warnings.warn(UserWarning("Benchmarks are automatically disabled under xdist."))
"""


def _run_with(pytester, filters: list[str]):
    pytester.makeini("[pytest]\nfilterwarnings =\n" + "".join(f"    {f}\n" for f in filters))
    pytester.makepyfile(noisy_plugin=NOISY_PLUGIN)
    pytester.makepyfile(
        test_own="import warnings\n\n\ndef test_own_warning():\n    warnings.warn('ours')\n"
    )
    return pytester.runpytest_subprocess("-p", "noisy_plugin", "-p", "no:cacheprovider")


def test_another_plugins_configure_time_warning_is_no_internal_error(pytester):
    result = _run_with(pytester, _suite_warning_filters())
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    # the suite's own warnings are still errors: the test that warns fails
    result.assert_outcomes(failed=1)
    assert "UserWarning: ours" in result.stdout.str()


def test_a_blanket_error_filter_would_stop_at_that_warning(pytester):
    # the check above can fail: with "error" for every warning, pytest stops at configure time
    result = _run_with(pytester, ["error"])
    assert "INTERNALERROR" in result.stdout.str() + result.stderr.str()
