r"""Grading an implementation in lecture terms: a rubric of items, each decided by checks aimed
at what it covers, so that a bug in one part costs that part's points and no others.

The checks ("probes") narrow the scope until only the covered part can be wrong:

- ``loss-ℓ``: one layer, the simplest output activation, one example, the loss ℓ;
- ``activation-g``: g in a hidden layer (depth 2) and in the output layer (depth 1), one
  example, a loss that passed its own probe;
- ``structure``: depth 3-4, wide enough for a block of 8 units and more, the simplest
  activations (g' = 1 for identity), one example: formulas 1-4 themselves;
- ``deep``: depth 5-6 with the hidden activations that passed: a formula that goes wrong only
  far from the output;
- ``batch``: batches of 2-8 examples: the 1/n and the sums over the batch;
- the lecture's exercises 1 and 2; ``determinism`` (two calls on the same inputs agree, in
  every probe and in a probe of its own); ``robustness`` (no NaN or infinity on extreme values).

A probe's failure is blamed on the item its diagnosis points to: in a probe of one loss, a
formula 3 or 4 diagnosis is that formula's; in a probe of one activation, "g' left out" or
"g' taken at a" is formulas 1-2's and the output layer's g' left out is the output layer's, not
the activation's; a failure every loss shares (a flipped sign, say) is the output layer's; a
repeat that differs is determinism's, and NaN on moderate values is robustness's. A call that
runs past its time limit ends the grading: the submission is graded 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.harness import CheckResult, check
from reference.rubric_items import Item, ItemResult, default_items, load_rubric
from reference.scope import Scope, UsageError, options
from reference.spec import ACTIVATIONS

__all__ = ["Item", "ItemResult", "Probe", "default_items", "grade", "load_rubric"]

#: Preference among losses for the probes that need one that works, and among activations for
#: the simplest (g' = 1 first).
_LOSS_ORDER = ("square", "output", "logistic", "softmax_cross_entropy")
_SIMPLE_ORDER = ("identity", "relu", "leaky_relu", "tanh", "sigmoid", "softplus")
#: Stories of the diagnosis that are formula 2's, whatever the activation.
_FORMULA_2_STORIES = ("is left out", "instead of z^(")


@dataclass(frozen=True)
class Probe:
    """One targeted check: its name, the scope it narrows to, and the item its failure costs."""

    name: str
    narrowed: dict[str, Any]
    item: str
    examples: int = 30


def _pick(order: tuple[str, ...], allowed: tuple[str, ...]) -> str | None:
    return next((name for name in order if name in allowed), None)


def _narrow(scope: Scope, **restrict: Any) -> dict[str, Any] | None:
    """The scope's options narrowed by ``restrict`` (names kept in order, ranges intersected);
    None where nothing of it is left."""
    narrowed: dict[str, Any] = {}
    for key, value in restrict.items():
        own = getattr(scope, key)
        if key in ("activations", "output_activations", "losses"):
            kept = [name for name in value if name in own]
            if not kept:
                return None
            narrowed[key] = kept
        else:
            low, high = max(value[0], own[0]), min(value[1], own[1])
            if low > high:
                return None
            narrowed[key] = f"{low}-{high}"
    return narrowed


def _diagnosed(found: CheckResult) -> str | None:
    """The item a wrong-values diagnosis names, if any."""
    formula = None if found.diagnosis is None else found.diagnosis.formula
    return {
        "3": "formula-3",
        "4": "formula-4",
        "1-2": "formulas-1-2",
        "output": "output-layer",
        "factor": "output-layer",
        "penalty": "formula-3",  # an extra λ W^(ℓ) in ∂R/∂W^(ℓ)
    }.get(formula or "")


def _blame(probe: Probe, found: CheckResult, lost: dict[str, list[str]]) -> str | None:
    """The item a probe's failure costs (see the module); None where the probe does not judge
    this kind of failure (the robustness probe judges NaN and infinity alone)."""
    if found.kind == "nondeterministic":
        return "determinism"
    if probe.item == "robustness":
        return "robustness" if found.kind == "non_finite" else None
    if probe.item == "determinism":
        return None
    if found.kind != "wrong_values":
        return "formulas-1-2" if probe.item == "structure" else probe.item
    diagnosed = _diagnosed(found)
    if diagnosed in lost or probe.item == "structure":
        return diagnosed or "formulas-1-2"  # the same mistake again, or the structure's own
    story = " ".join(found.diagnosis.lines()) if found.diagnosis else ""
    formula = found.diagnosis.formula if found.diagnosis else None
    if formula in ("3", "4") and probe.item != "batch":
        return diagnosed  # one parameter wrong at n = 1: the formula itself
    if formula == "penalty" and probe.item.startswith("loss-"):
        return "formula-3"  # an extra λ W^(ℓ) where nothing else can be wrong
    if probe.item != "batch" and _only_biases_wrong(found):
        return "formula-4"  # shrinking may have zeroed the inputs that showed W right
    formula_2 = any(words in story for words in _FORMULA_2_STORIES)
    if probe.item.startswith("activation-") and diagnosed == "formulas-1-2" and formula_2:
        return "formulas-1-2"
    return probe.item


def _only_biases_wrong(found: CheckResult) -> bool:
    """Is ∂R/∂b alone wrong at the highest wrong layer of the case as drawn, with inputs there
    that would show a wrong ∂R/∂z in ∂R/∂W too?"""
    from reference.account import mismatches

    drawn = found.drawn
    if drawn is None or drawn.kind != "wrong_values":
        return False
    wrong = [(m["layer"], m["param"]) for m in mismatches(drawn)]
    top = max(layer for layer, _ in wrong)
    seen = drawn.reference.A[top - 1]
    return {param for layer, param in wrong if layer == top} == {"b"} and bool(np.any(seen))


@dataclass
class _Grading:
    run: Callable[..., CheckResult]
    scope: Scope
    lost: dict[str, list[str]] = field(default_factory=dict)  # item -> what failed, in words
    checked: dict[str, list[str]] = field(default_factory=dict)  # item -> what was checked
    mistakes: dict[str, str] = field(default_factory=dict)  # item -> its first mistake, short

    judged: int = 0  # probes whose cases came to a verdict on a gradient (not an exception)

    def probe(self, probe: Probe | None) -> bool:
        """Run ``probe`` (None: outside the scope, skipped) and blame its failure; True if it
        passed."""
        if probe is None:
            return False
        what = f"{probe.name}: {probe.examples} random cases, scope {probe.narrowed}"
        try:
            found = self.run(probe.narrowed, probe.examples)
        except UsageError as exc:  # it declined every case of the probe
            found, failure = None, f"{probe.name}: {exc}"
        else:
            failure = None if found.ok else f"{probe.name}:\n{found.render()}"
        if found is not None and found.kind == "timeout":
            raise _OutOfTimeError(found.render())
        item = probe.item if found is None else _blame(probe, found, self.lost)
        self.checked.setdefault(probe.item, []).append(what)
        if failure is not None and item is not None:
            self.lost.setdefault(item, []).append(failure)
            self.mistakes.setdefault(item, _mistake(found))
            if item != probe.item:
                self.checked.setdefault(item, []).append(what)
        self.judged += found is not None and found.kind not in ("raised", "bad_structure")
        return failure is None


def _mistake(found: CheckResult | None) -> str:
    """The mistake in a few words: the diagnosis's most specific sentence, or the kind."""
    if found is None:
        return "declined every case (NotImplementedError)"
    if found.diagnosis is not None and found.diagnosis.lines():
        return (found.diagnosis.details or [found.diagnosis.summary])[0]
    from reference.verify import KIND_WORDS

    return KIND_WORDS.get(found.kind or "", found.kind or "fails")


class _OutOfTimeError(Exception):
    """A call ran past its time limit: the grading stops."""


def _probes_of_losses(g: _Grading) -> list[str]:
    scope, simple = g.scope, _pick(_SIMPLE_ORDER, g.scope.output_activations)
    working = []
    for loss in (loss for loss in _LOSS_ORDER if loss in scope.losses):
        narrowed = _narrow(
            scope, depth=(1, 1), output_activations=[simple], losses=[loss], batch=(1, 1)
        )
        if g.probe(narrowed and Probe(f"the loss {loss}", narrowed, f"loss-{loss}")):
            working.append(loss)
    every = [loss for loss in _LOSS_ORDER if loss in scope.losses]
    lost = [loss for loss in every if f"loss-{loss}" in g.lost]
    if len(every) > 1 and lost == every:  # every loss fails: the start of the backward pass
        for loss in every:
            g.lost.setdefault("output-layer", []).extend(g.lost.pop(f"loss-{loss}"))
            g.mistakes.setdefault("output-layer", g.mistakes.pop(f"loss-{loss}", ""))
    return working or every


def _probes_of_activations(g: _Grading, base: str) -> list[str]:
    scope, working = g.scope, []
    simple = _pick(_SIMPLE_ORDER, scope.output_activations)
    for name in ACTIVATIONS:
        results = []
        if name in scope.activations:
            narrowed = _narrow(
                scope,
                depth=(2, 2),
                activations=[name],
                output_activations=[simple],
                losses=[base],
                batch=(1, 1),
            )
            probe = narrowed and Probe(f"{name} in a hidden layer", narrowed, f"activation-{name}")
            results.append(g.probe(probe))
        if name in scope.output_activations:
            narrowed = _narrow(
                scope, depth=(1, 1), output_activations=[name], losses=[base], batch=(1, 1)
            )
            # where g passed as a hidden layer, its failure as the output is the output layer's
            item = "output-layer" if results and results[0] else f"activation-{name}"
            results.append(g.probe(narrowed and Probe(f"{name} as the output", narrowed, item)))
        if name in scope.activations and all(results):
            working.append(name)
    _formula_2_everywhere(g, [a for a in scope.activations if a != "identity"], working)
    return working


def _formula_2_everywhere(g: _Grading, nonlinear: list[str], working: list[str]) -> None:
    """A hidden-layer failure that every nonlinear activation shows is formula 2's, not each
    activation's (g' left out, or taken from another layer)."""
    failing = [a for a in nonlinear if a not in working]
    hidden = {
        a: [text for text in g.lost.get(f"activation-{a}", []) if "in a hidden layer" in text]
        for a in failing
    }
    if len(nonlinear) < 2 or len(failing) < len(nonlinear) or not all(hidden.values()):
        return
    # a bias computed from ∂R/∂a (g' left out of formula 4 alone) fails alike where shrinking
    # zeroed the inputs that would show ∂R/∂W right; the output layer's probes told it apart
    target = "formula-4" if "formula-4" in g.lost else "formulas-1-2"
    for name, texts in hidden.items():
        key = f"activation-{name}"
        kept = [text for text in g.lost[key] if text not in texts]
        g.lost.setdefault(target, []).extend(texts)
        g.mistakes.setdefault(target, g.mistakes.get(key, ""))
        if kept:
            g.lost[key] = kept
        else:
            del g.lost[key]
            g.mistakes.pop(key, None)


def _exercises(implementation: Callable, conventions: Any, items: set[str]) -> dict[str, str]:
    """What goes wrong in the lecture's exercises ({} where nothing does)."""
    from reference.exercises import EXERCISE_2, exercise_1_cases
    from reference.verify import verify

    wrong: dict[str, str] = {}
    wrapped = conventions.wrap(implementation)
    if "exercise-2" in items:
        case = [EXERCISE_2[key] for key in ("params", "X", "Y", "spec")]
        result = verify(wrapped, *case)
        if not result.ok:
            wrong["exercise-2"] = "exercise 2:\n" + result.message()
    if "exercise-1" in items:
        for spec, params, X, Y in exercise_1_cases():
            result = verify(wrapped, params, X, Y, spec)
            entry = None if result.candidate is None else result.candidate[0][0][0, 0]
            if not result.ok or entry != 0:
                wrong["exercise-1"] = (
                    f"exercise 1 on the network {spec.widths} {spec.activations}: "
                    f"∂H/∂W^(1)_11 = {entry} (the answer is 0: z^(1)_1 = -20 < 0, so relu' = 0)"
                    + ("" if result.ok else "\n" + result.message())
                )
                break
    return wrong


def grade(
    implementation: Callable,
    items: list[Item],
    *,
    seed: int = 0,
    time_limit: float | None = 10.0,
    fresh: Callable[[], Callable] | None = None,
    name: str | None = None,
    **scope_and_conventions: Any,
) -> list[ItemResult]:
    """Every item of the rubric decided for ``implementation`` (see the module).

    ``fresh()`` gives the implementation anew (its module imported again): once it has shown
    state kept between calls, each later probe starts from a fresh one, so that the state that
    costs determinism costs nothing else. ``name`` (``MODULE:FUNCTION``) lets each
    counterexample's snippet import the implementation.
    """
    scope, conventions = options(**scope_and_conventions)
    given = {key: value for key, value in scope_and_conventions.items() if value is not None}
    current = [implementation]

    def run(narrowed: dict[str, Any], examples: int) -> CheckResult:
        if fresh is not None and "determinism" in g.lost:
            current[0] = fresh()
        return check(
            current[0],
            examples=examples,
            seed=seed,
            time_limit=time_limit,
            name=name,
            **{**given, "values": "moderate", **narrowed},
        )

    g = _Grading(run, scope)
    keys = {item.key for item in items}
    try:
        _decide(g, scope)
        wrong = _exercises(fresh() if fresh else implementation, conventions, keys)
    except _OutOfTimeError as exc:
        reason = f"a call ran past its time limit; the grading stopped:\n{exc}"
        return [ItemResult(item, False, reason, "a call ran past its time limit") for item in items]
    if not g.judged:  # no gradient came back: no part can be told apart from another
        first = next(iter(g.lost.values()), ["every check failed"])[0]
        reason = f"no check got a gradient back; the first:\n{first}"
        mistake = next(iter(g.mistakes.values()), "every check failed")
        return [ItemResult(item, False, reason, mistake) for item in items]
    for key, text in wrong.items():  # a mistake of a part already lost costs nothing more
        if not g.lost:
            g.lost.setdefault(key, []).append(text)
            g.mistakes.setdefault(key, text.splitlines()[0])
    g.checked.setdefault("exercise-1", []).append("exercise 1: ∂H/∂W^(1)_11 on 3 completions")
    g.checked.setdefault("exercise-2", []).append("exercise 2: every gradient entry")
    return [_result(item, g) for item in items]


def _decide(g: _Grading, scope: Scope) -> None:
    """Every probe, in the order that lets a later failure be blamed on a part already lost."""
    base = _probes_of_losses(g)[0]
    simple = _pick(_SIMPLE_ORDER, scope.activations)
    common = {
        "losses": [base],
        "output_activations": [_pick(_SIMPLE_ORDER, scope.output_activations)],
    }
    structure = _narrow(
        scope, depth=(3, 4), activations=[simple], batch=(1, 1), width=(1, 16), **common
    )
    g.probe(structure and Probe("formulas 1-4", structure, "structure"))
    hidden = _probes_of_activations(g, base) or [simple]
    deep = _narrow(scope, depth=(5, 6), activations=hidden, batch=(1, 1), width=(1, 4), **common)
    g.probe(deep and Probe("a deep network", deep, "formulas-1-2", examples=20))
    batch = _narrow(scope, depth=(1, 2), activations=[simple], batch=(2, 8), **common)
    g.probe(batch and Probe("batches of several examples", batch, "batch"))
    g.probe(Probe("repeated calls", {}, "determinism", 20))
    if scope.values == "all":
        g.probe(Probe("extreme values", {"values": "all"}, "robustness", 30))


def _result(item: Item, g: _Grading) -> ItemResult:
    checked = g.checked.get(item.key, [])
    lost = g.lost.get(item.key, [])
    lines = ["Checked: " + "; ".join(checked) if checked else "Checked with the others."]
    if lost:
        lines += ["Failed:", *lost]
    else:
        lines.append("Passed.")
    return ItemResult(item, not lost, "\n".join(lines), g.mistakes.get(item.key))
