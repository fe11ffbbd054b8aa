"""The pytest plugin: ``pytest --backprop-impl MODULE:FUNCTION`` checks an implementation.

Registered through the ``pytest11`` entry point, so it is active wherever the package is
installed. Without ``--backprop-impl`` it does nothing but offer the option (and register the
``backprop-ci`` and ``backprop-thorough`` Hypothesis profiles, named apart from Hypothesis's own
``default`` and ``ci``). With it, the run gains the
tests of ``reference.pytest_checks``: the implementation on random cases (as many as the loaded
Hypothesis profile's ``max_examples``, drawn from ``--hypothesis-seed`` when given) and on the
lecture's exercise 2.
"""

from __future__ import annotations

import pathlib

import pytest

#: Hypothesis profiles offered to every run (an existing profile of the same name is kept);
#: prefixed, since Hypothesis registers ``default`` and ``ci`` itself.
PROFILES = {
    "backprop-ci": {"max_examples": 30, "derandomize": True},
    "backprop-thorough": {"max_examples": 10_000},
}


def _register_profiles() -> None:
    from hypothesis import HealthCheck, settings
    from hypothesis.errors import InvalidArgument

    for name, values in PROFILES.items():
        try:
            settings.get_profile(name)
        except InvalidArgument:
            settings.register_profile(
                name,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                **values,
            )


_register_profiles()


def profile(name: str) -> object:
    """One of ``PROFILES`` as Hypothesis settings (the parent of a suite's own profiles)."""
    from hypothesis import settings

    return settings.get_profile(name)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("backprop-verify", "checking a hand-written backpropagation")
    group.addoption(
        "--backprop-impl",
        metavar="MODULE:FUNCTION",
        default=None,
        help="check this implementation of gradients(params, X, Y, spec) against jax.grad and "
        "finite differences (the current directory is importable)",
    )
    group.addoption(
        "--backprop-precision",
        choices=("standard", "strict"),
        default="standard",
        help="numerical standard: activation values accurate to their scale (standard) or "
        "relatively (strict)",
    )
    group.addoption(
        "--backprop-dtype",
        choices=("float64", "float32"),
        default="float64",
        help="precision the implementation is given and judged in (default float64)",
    )
    group.addoption(
        "--backprop-jobs",
        type=int,
        default=1,
        metavar="N",
        help="worker processes that judge the random cases (as backprop-verify check --jobs)",
    )
    from reference.scope import OPTION_KEYS

    for key in OPTION_KEYS:  # the scope and conventions (README, "Conventions")
        if key == "labels":
            group.addoption(
                "--backprop-labels",
                action="store_true",
                default=None,
                help="softmax_cross_entropy targets as integer class labels of shape (n,)",
            )
        else:
            group.addoption(
                f"--backprop-{key.replace('_', '-')}",
                default=None,
                help=f"as backprop-verify check --{key.replace('_', '-')}",
            )


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("backprop_impl")
    if not target:
        return
    from reference.harness import UsageError, load_implementation

    try:
        config._backprop_impl = load_implementation(target)  # type: ignore[attr-defined]
    except UsageError as exc:
        raise pytest.UsageError(f"--backprop-impl: {exc}") from None
    from reference.scope import OPTION_KEYS, options, pyproject_options

    try:  # pyproject.toml of the directory pytest runs in, then the flags (they win)
        chosen = pyproject_options(config.invocation_params.dir)
        for key in OPTION_KEYS:
            value = config.getoption(f"backprop_{key}")
            if value is not None:
                chosen[key] = value
        options(prefix="--backprop-", **chosen)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("backprop_jobs") < 1:
        raise pytest.UsageError("--backprop-jobs must be at least 1.")
    config._backprop_options = chosen  # type: ignore[attr-defined]
    checks = pathlib.Path(__file__).with_name("pytest_checks.py")
    config.args.append(str(checks))


@pytest.fixture(scope="session")
def backprop_impl(request: pytest.FixtureRequest):
    """The implementation named by ``--backprop-impl``."""
    implementation = getattr(request.config, "_backprop_impl", None)
    if implementation is None:
        pytest.skip("no --backprop-impl given")
    return implementation
