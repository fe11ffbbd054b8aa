"""The tests that ``pytest --backprop-impl MODULE:FUNCTION`` adds (see ``pytest_plugin``)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from reference.harness import UsageError, check
from reference.verify import verify


def _seed(config: pytest.Config) -> tuple[int, bool]:
    """The seed to draw from, and whether the user chose it."""
    from hypothesis import settings

    given = config.getoption("hypothesis_seed", default=None)
    if given is not None:
        try:
            return int(given), True
        except ValueError:
            return int.from_bytes(str(given).encode()[:8], "little"), True
    if settings.default.derandomize:
        return 0, False
    return random.SystemRandom().randrange(2**32), False


def test_gradients_agree_on_random_networks(backprop_impl, request):
    from hypothesis import settings

    config = request.config
    seed, chosen = _seed(config)
    try:
        found = check(
            backprop_impl,
            examples=settings.default.max_examples,
            seed=seed,
            dtype=config.getoption("backprop_dtype"),
            name=config.getoption("backprop_impl"),
            precision=config.getoption("backprop_precision"),
            jobs=config.getoption("backprop_jobs"),
            **config._backprop_options,
        )
    except UsageError as exc:  # it declined every case drawn
        pytest.fail(str(exc), pytrace=False)
    if not found.ok:
        again = "" if chosen else f"\n(run again with --hypothesis-seed {seed} for the same cases)"
        pytest.fail(found.render() + again, pytrace=False)
    print(found.render())  # shown with -rP: how many cases, which seed


def test_gradients_of_the_lecture_exercise_2(backprop_impl, request):
    from reference.exercises import EXERCISE_2
    from reference.scope import options
    from reference.strategies import Case

    scope, conventions = options(**request.config._backprop_options)
    case = Case(*(EXERCISE_2[key] for key in ("spec", "params", "X", "Y")))
    outside = scope.outside(case)
    if outside is not None:
        pytest.skip(f"exercise 2 is outside the declared scope: {outside}")
    result = verify(
        conventions.wrap(backprop_impl),
        EXERCISE_2["params"],
        EXERCISE_2["X"],
        EXERCISE_2["Y"],
        EXERCISE_2["spec"],
        dtype=np.dtype(request.config.getoption("backprop_dtype")),
        precision=request.config.getoption("backprop_precision"),
    )
    if result.unsupported:
        pytest.skip(f"the implementation declined exercise 2: {result.error}")
    if not result.ok:
        pytest.fail("the lecture's exercise 2:\n" + result.message(), pytrace=False)
