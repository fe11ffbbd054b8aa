"""The rubric's items: the default points of each part of backprop, in lecture terms, and a
teacher's own points read from a TOML file's ``[points]`` table."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from reference.scope import Scope, UsageError
from reference.spec import ACTIVATIONS, LOSSES

__all__ = ["DEFAULT_POINTS", "TITLES", "Item", "ItemResult", "default_items", "load_rubric"]

#: The points of the default rubric; activation and loss items exist for those in the scope.
DEFAULT_POINTS = {
    "formula-3": 10,
    "formula-4": 10,
    "formulas-1-2": 15,
    "output-layer": 10,
    "activation": 3,  # each
    "loss": 3,  # each
    "batch": 10,
    "exercise-1": 2,
    "exercise-2": 3,
    "determinism": 5,
    "robustness": 5,
}

TITLES = {
    "formula-3": "formula 3: ∂R/∂W^(ℓ)_ij = ∂R/∂z_j^(ℓ) a_i^(ℓ-1)",
    "formula-4": "formula 4: ∂R/∂b^(ℓ)_j = ∂R/∂z_j^(ℓ)",
    "formulas-1-2": "formulas 1-2: ∂R/∂z^(ℓ) of the hidden layers, from layer ℓ+1",
    "output-layer": "the output layer: ∂R/∂z^(L), the start of the backward pass",
    "batch": "the batch: the 1/n of the risk and the sums over the examples",
    "exercise-1": "the lecture's exercise 1, exactly",
    "exercise-2": "the lecture's exercise 2, exactly",
    "determinism": "determinism: the same inputs give the same gradient",
    "robustness": "robustness: no NaN or infinity on extreme values where the gradient is finite",
}


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    points: float


@dataclass
class ItemResult:
    item: Item
    passed: bool
    output: str  # what was checked, what failed, the counterexample and its diagnosis
    mistake: str | None = None  # the first mistake found, in a few words

    @property
    def score(self) -> float:
        return self.item.points if self.passed else 0.0


def default_items(scope: Scope) -> list[Item]:
    """The default rubric for ``scope``: an item per activation and loss it holds."""
    items = [Item(k, TITLES[k], DEFAULT_POINTS[k]) for k in list(TITLES)[:4]]
    used = [a for a in ACTIVATIONS if a in scope.activations or a in scope.output_activations]
    items += [Item(f"activation-{a}", f"the activation {a} and its g'", 3) for a in used]
    items += [
        Item(f"loss-{name}", f"the loss {name} and ∂ℓ/∂H", 3)
        for name in LOSSES
        if name in scope.losses
    ]
    later = list(TITLES)[4:] if scope.values == "all" else list(TITLES)[4:-1]
    items += [Item(k, TITLES[k], DEFAULT_POINTS[k]) for k in later]
    return items


def load_rubric(path: str, scope: Scope) -> list[Item]:
    """The default items with the points of ``path``'s ``[points]`` table (``key = points``;
    0 leaves an item out); ``UsageError`` for an unreadable file, an unknown key or a bad
    number."""
    try:
        with open(path, "rb") as stream:
            table = tomllib.load(stream).get("points", {})
    except OSError as exc:
        raise UsageError(f"cannot read the rubric {path!r}: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"the rubric {path!r} is not valid TOML: {exc}.") from None
    items = {item.key: item for item in default_items(scope)}
    for key, points in table.items():
        if key not in items:
            raise UsageError(
                f"the rubric {path!r} names {key!r}, which is no item; the items are "
                f"{', '.join(items)}."
            )
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise UsageError(f"the rubric's points for {key!r} must be a number >= 0.")
        items[key] = Item(key, items[key].title, float(points))
    return [item for item in items.values() if item.points > 0]
