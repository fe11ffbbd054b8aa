r"""Which of the lecture's four formulas a wrong gradient breaks.

Backpropagation computes layer L first and carries ∂R/∂z^(ℓ) down through formulas 1-2, so a
mistake shows at the layer where it is made and in every layer below that inherits it. The
diagnosis therefore starts from the highest wrong layer ℓ (the one nearest the output):

- only ∂R/∂W^(ℓ) wrong there: ∂R/∂z^(ℓ) itself is right (∂R/∂b^(ℓ) is its batch sum), so the
  mistake is formula 3, the a^(ℓ-1) factor;
- only ∂R/∂b^(ℓ) wrong: formula 4 (∂R/∂b^(ℓ) = ∂R/∂z^(ℓ), summed over the batch);
- both wrong, ℓ = L: ∂R/∂z^(L) is wrong, the start of the backward pass: the loss derivative, the
  1/n, or the output activation's g';
- both wrong, ℓ < L, with layer ℓ+1 right: formulas 1-2 at layer ℓ, the W^(ℓ+1) sum or g'(z^(ℓ)).

Errors all of the size that the same pass computed in float32 makes point to lost precision,
not to a formula. Where a common mistake explains the candidate's numbers exactly (g' left out, g'
taken at a instead of z, W^(ℓ+1) not transposed, a constant factor such as a missing 1/n, an
extra λ W^(ℓ) of a weight-decay penalty, a bias left out of the forward pass), it is named
(``reference.mistakes``).

A formula is named only where the numbers determine it: where no ∂R/∂z^(ℓ) gives the
candidate's gradients at and below ℓ through formulas 1-4 at this forward pass (least squares,
``reference.consistency``, on the shrunk case and on the case as drawn), the diagnosis says that
no single formula explains it, with the evidence. A named factor must explain every failing case
seen, so that 1/2 is "a lost factor 2" only for the square loss and only if no 1/n or 1/n_L
fits as well.
The intermediate quantities ∂R/∂a^(ℓ), ∂R/∂z^(ℓ) and g'(z^(ℓ)) come from the ``jax.grad`` pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.consistency import close, consistent_below, highest_wrong, right_below
from reference.mistakes import (
    case_sizes,
    constant_factor,
    factor_story,
    forward_story,
    hidden_layer_story,
    kink_story,
    kink_story_as_drawn,
    output_layer_story,
    passes_standard,
    penalty,
    rounding_sized,
    unnamed_factor,
)

__all__ = ["Diagnosis", "diagnose", "number_pair"]


@dataclass
class Diagnosis:
    """Where a wrong gradient goes wrong, in lecture terms."""

    wrong: list[tuple[int, str]] = field(default_factory=list)  # (layer, "W" | "b"), 1-based
    layer: int | None = None  # the highest wrong layer: where the mistake enters
    # "1-2", "3", "4", "output", "factor", "penalty", "forward", "precision" or None (no
    # single formula explains the numbers)
    formula: str | None = None
    summary: str = ""  # one sentence
    details: list[str] = field(default_factory=list)  # further sentences, if any

    def lines(self) -> list[str]:
        return [self.summary, *self.details] if self.summary else []

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "formula": self.formula,
            "summary": self.summary,
            "details": list(self.details),
            "wrong": [{"layer": layer, "param": param} for layer, param in self.wrong],
        }


def number_pair(value: float, other: float) -> tuple[str, str]:
    """Both numbers with the fewest significant digits (at least 6) that tell them apart."""
    value, other = float(value), float(other)
    for digits in range(6, 18):
        first, second = f"{value:.{digits}g}", f"{other:.{digits}g}"
        if first != second or value == other:
            return first, second
    return repr(value), repr(other)


def _unreached(diagnosis: Diagnosis, top: int) -> Diagnosis:
    diagnosis.formula = None
    diagnosis.summary = (
        f"no single formula is determined: layer {top} is wrong in W and b while every layer "
        f"below it is right on the case as drawn"
    )
    diagnosis.details = [
        f"a wrong ∂R/∂z^({top}) (formulas 1-2) would reach layers {top - 1} and below through "
        f"W^({top}) and g'(z^({top - 1})) unless its error vanished there; more likely "
        f"∂R/∂W^({top}) and ∂R/∂b^({top}) themselves (formulas 3-4) are computed from something "
        f"else, or not kept"
    ]
    return diagnosis


def _undetermined(
    diagnosis: Diagnosis, top: int, where: str, right_below: bool = False
) -> Diagnosis:
    diagnosis.formula = None
    diagnosis.summary = (
        f"no single formula explains the numbers: layer {top} is the highest wrong layer, but "
        f"the gradients of layers {top} and below are not what formulas 1-4 give at this "
        f"network's forward pass from any ∂R/∂z^({top}) (least squares on {where})"
    )
    if right_below:
        diagnosis.details.insert(
            0,
            f"layers {top - 1} and below are right on {where}, so the ∂R/∂z^({top}) that "
            f"formulas 1-2 carried down was right: ∂R/∂W^({top}) and ∂R/∂b^({top}) are not "
            f"formulas 3-4 applied to it (computed from something else, or not kept)",
        )
        return diagnosis
    diagnosis.details.insert(
        0,
        "the gradient was computed at another forward pass (a bias or an activation left out "
        "or changed), or more than one formula is wrong",
    )
    return diagnosis


@dataclass
class _Where:
    """Where the wrong entries of a case lie, as the diagnosis reads them."""

    top: int  # the highest wrong layer
    at_top: set[str]  # its wrong parameters ("W" added where its inputs are all 0)
    wrong_at_top: str  # in words
    below: list[int]  # the wrong layers under it
    params: set[str]  # every wrong parameter kind

    @classmethod
    def of(cls, result: Any, wrong: list[tuple[int, str]]) -> _Where:
        ref = result.reference
        top = max(layer for layer, _ in wrong)
        at_top = {param for layer, param in wrong if layer == top}
        wrong_at_top = "W and b"
        # ∂R/∂W^(l) = a^(l-1) ⊗ ∂R/∂z^(l) is zero whatever ∂R/∂z^(l) is where a^(l-1) = 0: "W
        # right" then says nothing, and a wrong ∂R/∂b^(l) means a wrong ∂R/∂z^(l), as when both
        # are wrong.
        if not np.any(ref.A[top - 1]):
            if "W" not in at_top:
                wrong_at_top = "b (its W sees only zero inputs, so its ∂R/∂W is 0 either way)"
            at_top.add("W")
        below = sorted({layer for layer, _ in wrong if layer < top})
        return cls(top, at_top, wrong_at_top, below, {param for _, param in wrong})


def _named(diagnosis: Diagnosis, formula: str, summary: str) -> Diagnosis:
    """The diagnosis as one named cause, which replaces any detail gathered so far."""
    diagnosis.formula, diagnosis.summary, diagnosis.details = formula, summary, []
    return diagnosis


def _precision(diagnosis: Diagnosis, result: Any, where: _Where) -> Diagnosis | None:
    """Lost precision, not a formula: the default standard passes, or float32 explains it."""
    if result.precision == "strict" and passes_standard(result):
        return _named(
            diagnosis,
            "precision",
            "every error is within what activation values accurate to a few units of roundoff "
            "of the activation's own scale make (the default standard); the strict standard "
            "asks each activation value to be accurate relatively: no formula is wrong",
        )
    ref = result.reference
    if np.dtype(ref.A[0].dtype) != np.float32 and rounding_sized(
        result.candidate, ref, result.params, result.Y, result.spec, diagnosis.wrong
    ):
        return _named(
            diagnosis,
            "precision",
            "every error is of the size a float32 computation of this case makes: precision is "
            "lost (float32 somewhere inside), no formula is wrong",
        )
    return None


def _factor(diagnosis: Diagnosis, result: Any, where: _Where, also: Any) -> Diagnosis | None:
    """The whole gradient times one constant, in this case and every other failing one seen."""
    factor = constant_factor(result.candidate, result.reference.grads)
    if factor is None or where.params != {"W", "b"}:
        return None
    evidence = [(factor, case_sizes(result))] + [
        (constant_factor(other.candidate, other.reference.grads), case_sizes(other))
        for other in also
        if other.candidate is not None
    ]
    meaning = factor_story(factor, evidence)
    if not all(f is not None for f, _ in evidence):
        return None
    # one output unit and its g' left out also scale everything by one number, 1/g'
    db = result.candidate[where.top - 1][1]
    if (
        meaning is None
        and where.top == result.spec.depth
        and output_layer_story(db, result.reference, result.spec)
    ):
        return None
    factor_text, _ = number_pair(factor, 1.0)
    return _named(
        diagnosis,
        "factor",
        f"every entry is {factor_text} times the right value: "
        f"{meaning or unnamed_factor(evidence)}",
    )


def _penalty(diagnosis: Diagnosis, result: Any) -> Diagnosis | None:
    lam = penalty(result.candidate, result.reference.grads, result.params)
    if lam is None:
        return None
    return _named(
        diagnosis,
        "penalty",
        f"every ∂R/∂W^(ℓ) has an extra {number_pair(lam, 0.0)[0]} W^(ℓ): a weight-decay (L2) "
        f"penalty that R does not have; formulas 1-4 are right",
    )


def _forward(diagnosis: Diagnosis, result: Any, also: Any) -> Diagnosis | None:
    story = forward_story(result, also)
    if story is None:
        return None
    return _named(
        diagnosis, "forward", f"{story}; the backward pass is right for that forward pass"
    )


def _one_parameter(diagnosis: Diagnosis, result: Any, where: _Where) -> Diagnosis | None:
    """Only ∂R/∂W (formula 3) or only ∂R/∂b (formula 4) wrong at the highest wrong layer."""
    top, candidate, ref = where.top, result.candidate, result.reference
    if where.at_top == {"W"}:
        diagnosis.formula = "3"
        diagnosis.summary = (
            f"layer {top}: ∂R/∂b right, ∂R/∂W wrong: formula 3, the a^({top - 1}) factor of "
            f"∂R/∂W^({top})_ij = ∂R/∂z_j^({top}) a_i^({top - 1})"
        )
        dW, true_dW = candidate[top - 1][0], ref.grads[top - 1][0]
        if dW.shape[0] == dW.shape[1] and close(dW, true_dW.T):
            diagnosis.details.insert(0, f"∂R/∂W^({top}) is the transpose of the right one")
        return diagnosis
    if where.at_top == {"b"}:
        diagnosis.formula = "4"
        diagnosis.summary = (
            f"layer {top}: ∂R/∂W right, ∂R/∂b wrong: formula 4, ∂R/∂b^({top}) = ∂R/∂z^({top}) "
            f"summed over the batch"
        )
        n = ref.A[0].shape[0]
        if close(candidate[top - 1][1], ref.grads[top - 1][1] / n):
            diagnosis.details.insert(0, "it is averaged over the batch instead of summed")
        return diagnosis
    return None


def _inconsistent(diagnosis: Diagnosis, result: Any, where: _Where, also: Any) -> Diagnosis | None:
    """No single formula, where least squares shows that no ∂R/∂z^(top) gives the numbers."""
    top, L = where.top, result.spec.depth
    here = consistent_below(top, result)
    if here is False:
        return _undetermined(diagnosis, top, "this case", right_below(top, result))
    # the case as drawn, at its own highest wrong layer: shrinking may have zeroed the
    # weights through which a wrong ∂R/∂z^(top) would show in the layers below
    # (at a hidden layer, only where every layer below it is right there: a mistake
    # that repeats in every layer, such as g' left out, is still named)
    for other in also:
        other_top = highest_wrong(other)
        if other_top is None or (top == L and other_top != other.spec.depth):
            continue
        right = other_top < other.spec.depth and right_below(other_top, other)
        if top < L and not right:
            continue
        consistent = consistent_below(other_top, other)
        if consistent is None and other_top > 1:  # too large: the two layers at the top
            consistent = consistent_below(other_top, other, lowest=other_top - 1)
        if consistent is False:
            return _undetermined(diagnosis, top, "the case as drawn", right)
        if consistent is None and right and not where.below:
            # too many unknowns for least squares to decide; the layers below still show
            # that no wrong ∂R/∂z^(top) reached them
            return _unreached(diagnosis, top)
    return None


def _formula_at(diagnosis: Diagnosis, result: Any, where: _Where, also: Any) -> Diagnosis:
    """∂R/∂z^(top) wrong: the start of the backward pass (top = L) or formulas 1-2."""
    top, spec, ref = where.top, result.spec, result.reference
    L = spec.depth
    db = result.candidate[top - 1][1]
    if top == L:
        diagnosis.formula = "output"
        story = output_layer_story(db, ref, spec)
        diagnosis.summary = (
            f"output layer {L} wrong in {where.wrong_at_top}: ∂R/∂z^({L}) is wrong at the start "
            f"of the backward pass: the loss derivative ∂ℓ/∂H, the 1/n, or the output "
            f"activation's g'"
        )
        if story:
            diagnosis.details.insert(0, story)
        return diagnosis
    diagnosis.formula = "1-2"
    diagnosis.summary = (
        f"layer {top + 1} right, layer {top} wrong in {where.wrong_at_top}: formulas 1-2 at "
        f"layer {top}, the W^({top + 1}) sum or g'(z^({top}))"
    )
    story = hidden_layer_story(top, db, ref, result.params, spec)
    if story and kink_story(top, db, ref, spec):
        story = kink_story_as_drawn(story, also)
    if story:
        diagnosis.details.insert(0, story)
    return diagnosis


def diagnose(
    result: Any,
    wrong: list[tuple[int, str]],
    *,
    quick: bool = False,
    also: Any = (),
) -> Diagnosis:
    """Name the broken formula from the wrong (layer, param) pairs of a finite candidate.

    ``result`` is the three-way verdict (``reference.verify.ThreeWay``) on the case, with the
    candidate's gradient as float64 pairs; ``wrong`` the pairs it gets wrong (against either
    witness). ``quick`` skips the tests that need more than the numbers at hand (the
    least-squares consistency and the forward-pass stories), for shrinking. ``also`` holds
    verdicts on other failing cases of the same implementation (the case as drawn, before
    shrinking): a named cause must explain their numbers too.

    The causes are tried in order, the first that explains the numbers named: lost precision,
    a constant factor, a penalty, the forward pass, formula 3 or 4 alone, no single formula
    (least squares), then the start of the backward pass or formulas 1-2.
    """
    wrong = sorted(set(wrong))
    if not wrong:
        return Diagnosis()
    where = _Where.of(result, wrong)
    diagnosis = Diagnosis(wrong=wrong, layer=where.top)
    if where.below:
        below = where.below
        diagnosis.details.append(
            f"layers {', '.join(map(str, below))} below it inherit the error through formulas 1-2"
            if len(below) > 1
            else f"layer {below[0]} below it inherits the error through formulas 1-2"
        )
    return (
        _precision(diagnosis, result, where)
        or _factor(diagnosis, result, where, also)
        or _penalty(diagnosis, result)
        or (None if quick else _forward(diagnosis, result, also))
        or _one_parameter(diagnosis, result, where)
        or (None if quick else _inconsistent(diagnosis, result, where, also))
        or _formula_at(diagnosis, result, where, also)
    )
