"""Hypothesis profiles, and a count of the random three-way checks the run performed."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from reference.verify import ThreeWay, verify, verify_calls

# JAX compiles once per new shape, far slower than Hypothesis's default deadline allows.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("default", max_examples=30, **_COMMON)
settings.register_profile("ci", max_examples=30, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=10_000, **_COMMON)
# `pytest --hypothesis-profile NAME` overrides this; CI (CI=true) runs derandomized.
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)

pytest_plugins = ["pytester"]

_THREE_WAY_COUNT = "three_way_checks"


@pytest.fixture(scope="session")
def three_way(request: pytest.FixtureRequest):
    """``three_way(impl, case, dtype=np.float64) -> ThreeWay``, counted for the summary."""
    config = request.config

    def run(implementation, case, dtype=np.float64) -> ThreeWay:
        setattr(config, _THREE_WAY_COUNT, getattr(config, _THREE_WAY_COUNT, 0) + 1)
        return verify(implementation, case.params, case.X, case.Y, case.spec, dtype=dtype)

    return run


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    count = getattr(config, _THREE_WAY_COUNT, 0)
    if count:
        terminalreporter.write_line(f"random three-way checks run: {count}")
    total = verify_calls()  # this process only: not pytest-xdist workers, not subprocesses
    if total:
        terminalreporter.write_line(
            f"three-way checks in all, the harness's generated and shrunk cases included: {total}"
        )
