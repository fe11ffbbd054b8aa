"""The cases ``check`` runs, numbered: from a seed inside a scope (case i from its own NumPy
generator, so that the sequence depends on the seed alone), or from a caller's Hypothesis
strategy; repeats left out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from reference.scope import Scope
from reference.spec import arrays_of
from reference.strategies import Case, random_case

__all__ = ["case_stream", "numbered_cases"]

#: Draws a caller's strategy may spend per distinct case before ``check`` stops asking.
_DRAWS_PER_CASE = 4


def case_stream(seed: int, scope: Scope | None = None, **bounds: Any) -> Iterator[Case]:
    """The cases ``check`` draws from ``seed``: case i comes from its own NumPy generator,
    seeded by (seed, i), so the sequence depends on the seed alone (not on Hypothesis, on what
    was imported, or on how many cases were asked for), and two seeds differ from case 1 on.
    With ``scope``, every case lies inside it (``Scope.draw``)."""
    for i in itertools.count():
        rng = np.random.default_rng([seed % 2**64, i])
        if scope is None or scope.everything:
            yield random_case(rng, **bounds)
        else:
            yield scope.draw(rng)


def _strategy_stream(strategy: Any, seed: int, wanted: int) -> Iterator[Case]:
    """Cases of a caller's Hypothesis strategy, reproducible from ``seed`` for the same
    strategy and Hypothesis version; up to ``_DRAWS_PER_CASE`` draws per case wanted."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed

    drawn: list[Case] = []

    @settings(
        max_examples=wanted * _DRAWS_PER_CASE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        phases=(Phase.generate,),
    )
    @hypothesis_seed(seed)
    @given(case=strategy)
    def draw(case: Case) -> None:
        drawn.append(case)

    draw()
    yield from drawn


def _fingerprint(case: Case) -> tuple:
    return (
        case.spec,
        tuple(a.tobytes() for a in arrays_of(case.params)),
        case.X.tobytes(),
        case.Y.tobytes(),
    )


def _distinct(cases: Iterator[tuple[int, Case]]) -> Iterator[tuple[int, Case]]:
    """Numbered ``cases`` without the repeats of an earlier one."""
    seen: set = set()
    for number, case in cases:
        key = _fingerprint(case)
        if key in seen:
            continue
        seen.add(key)
        yield number, case


def numbered_cases(
    scope: Scope, seed: int, strategy: Any, examples: int, case: int | None
) -> Iterator[tuple[int, Case]]:
    """The numbered cases ``check`` runs: from the seed inside the scope (only number ``case``,
    if given), or from the caller's strategy; repeats left out."""
    if strategy is None:
        drawn = enumerate(case_stream(seed, scope), start=1)
    else:
        drawn = enumerate(filter(scope.admits, _strategy_stream(strategy, seed, examples)), 1)
    if case is not None:
        drawn = itertools.islice(drawn, case - 1, case)
    return _distinct(drawn)
