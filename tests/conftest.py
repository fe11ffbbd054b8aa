"""Hypothesis profiles, and a count of the random three-way checks the run performed."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
from hypothesis import Phase, settings

from reference.pytest_plugin import profile
from reference.verify import ThreeWay, verify, verify_calls

# The plugin's profiles (no deadline: JAX compiles once per new shape, far slower than
# Hypothesis's default deadline allows), under the suite's short names; failures print the blob.
settings.register_profile("default", profile("backprop-ci"), derandomize=False, print_blob=True)
settings.register_profile("ci", profile("backprop-ci"), print_blob=True)
settings.register_profile("thorough", profile("backprop-thorough"), print_blob=True)
# Mutation testing's: the `ci` examples without shrinking. A mutant is killed by the first
# failing example; shrinking it to the smallest one (a minute or more where every example fails
# and each new shape compiles) changes nothing in the verdict.
settings.register_profile(
    "mutation",
    profile("backprop-ci"),
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    database=None,
)
# `pytest --hypothesis-profile NAME` overrides this; CI (CI=true) runs derandomized.
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)

pytest_plugins = ["pytester"]

# The command line keeps JAX's compilation cache in the user's cache directory; tests that call
# it in this process leave JAX's process-wide settings and the user's files alone.
os.environ.setdefault("BACKPROP_VERIFY_CACHE", "off")

_THREE_WAY_COUNT = "three_way_checks"

TESTS = pathlib.Path(__file__).resolve().parent


@pytest.fixture
def in_tests(monkeypatch):
    """Run from tests/, where the zoo modules are importable as the command line finds them."""
    monkeypatch.chdir(TESTS)
    monkeypatch.syspath_prepend(str(TESTS))


@pytest.fixture(scope="session")
def three_way(request: pytest.FixtureRequest):
    """``three_way(impl, case, dtype=np.float64) -> ThreeWay``, counted for the summary."""
    config = request.config

    def run(implementation, case, dtype=np.float64) -> ThreeWay:
        setattr(config, _THREE_WAY_COUNT, getattr(config, _THREE_WAY_COUNT, 0) + 1)
        return verify(implementation, case.params, case.X, case.Y, case.spec, dtype=dtype)

    return run


def pytest_sessionfinish(session) -> None:
    """In a pytest-xdist worker: hand this process's counts to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output[_THREE_WAY_COUNT] = getattr(session.config, _THREE_WAY_COUNT, 0)
        output["verify_calls"] = verify_calls()


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook; absent under -p no:xdist
def pytest_testnodedown(node, error) -> None:
    """In the pytest-xdist controller: add up each worker's counts."""
    config, output = node.config, getattr(node, "workeroutput", {})
    for key in (_THREE_WAY_COUNT, "verify_calls"):
        setattr(config, key, getattr(config, key, 0) + output.get(key, 0))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    count = getattr(config, _THREE_WAY_COUNT, 0)
    if count:
        terminalreporter.write_line(f"random three-way checks run: {count}")
    # this process and its pytest-xdist workers; not the suite's own pytest subprocesses
    total = verify_calls() + getattr(config, "verify_calls", 0)
    if total:
        terminalreporter.write_line(
            f"three-way checks in all, the harness's generated and shrunk cases included: {total}"
        )
