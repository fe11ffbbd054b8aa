"""Checking an implementation as it is written: what the harness draws, and how it calls it.

``Scope`` bounds the cases drawn (activations, losses, depth, widths, batch, value and target
kinds); every case the implementation sees, shrinking included, lies inside it.
``reference.conventions.Conventions`` says how the implementation takes its arguments and
returns its gradient.

``options(**keywords)`` reads both from the contract's option names (``../CONTRACT.md``
section 5), as given to ``reference.harness.check``, on the command line or in a
``[tool.backprop-verify]`` table of pyproject.toml (``pyproject_options``); a bad value is a
``UsageError`` of one sentence.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from reference.conventions import Conventions, flag
from reference.minimize import MODERATE, moderated
from reference.spec import ACTIVATIONS, LOSSES, StructureError
from reference.strategies import Case, random_case

__all__ = [
    "CONVENTION_KEYS",
    "OPTION_KEYS",
    "SCOPE_KEYS",
    "Conventions",
    "Scope",
    "StructureError",
    "UsageError",
    "options",
    "pyproject_options",
]

SCOPE_KEYS = (
    "activations",
    "output_activations",
    "losses",
    "depth",
    "width",
    "inputs",
    "outputs",
    "batch",
    "values",
    "targets",
)
CONVENTION_KEYS = ("layout", "examples_as", "bias", "params", "labels", "reduction", "loss_scale")
OPTION_KEYS = SCOPE_KEYS + CONVENTION_KEYS

#: The values each choice option allows, the default first.
CHOICES = {
    "values": ("all", "moderate"),
    "targets": ("any", "one-hot"),
    "layout": ("in-out", "out-in"),
    "examples_as": ("rows", "columns"),
    "bias": ("flat", "column", "row"),
    "params": ("pairs", "vector", "dict"),
    "reduction": ("mean", "sum"),
}

#: The default ranges: the harness's whole draw (``reference.strategies.random_case``).
RANGES = {
    "depth": (1, 8),
    "width": (1, 48),
    "inputs": (1, 48),
    "outputs": (1, 48),
    "batch": (1, 64),
}


class UsageError(Exception):
    """A mistake in what the user asked for; its message is one sentence."""


def _names(value: Any, key: str, allowed: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{flag(key, prefix)} must be comma-separated names, got {value!r}.")
    names = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
    if not names:
        raise UsageError(f"{flag(key, prefix)} names nothing: the scope would be empty.")
    unknown = [name for name in names if name not in allowed]
    if unknown:
        kind = "loss" if key == "losses" else "activation"
        raise UsageError(
            f"{flag(key, prefix)}: unknown {kind} {unknown[0]!r}; choose from {', '.join(allowed)}."
        )
    return names


def _range(value: Any, key: str, prefix: str) -> tuple[int, int]:
    name = flag(key, prefix)
    if isinstance(value, bool):
        raise UsageError(f"{name} must be a number or a range A-B, got {value!r}.")
    if isinstance(value, numbers.Integral):
        low = high = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*(-\s*\d+\s*)?", value):
        parts = [int(part) for part in value.split("-")]
        low, high = parts[0], parts[-1]
    elif (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        low, high = int(value[0]), int(value[1])
    else:
        raise UsageError(f"{name} must be a number or a range A-B, got {value!r}.")
    if low < 1:
        raise UsageError(f"{name} must be at least 1, got {low}.")
    if low > high:
        raise UsageError(f"{name} {low}-{high} is empty: the first number must not be larger.")
    return low, high


def _choice(value: Any, key: str, prefix: str) -> str:
    allowed = CHOICES[key]
    if value not in allowed:
        raise UsageError(f"{flag(key, prefix)} must be one of {', '.join(allowed)}, got {value!r}.")
    return value


def _switch(value: Any, key: str, prefix: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise UsageError(f"{flag(key, prefix)} is a switch (true or false), got {value!r}.")


def _scale(value: Any, key: str, prefix: str) -> float:
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = math.nan
    if isinstance(value, bool) or not math.isfinite(scale) or scale <= 0:
        raise UsageError(f"{flag(key, prefix)} must be a positive number, got {value!r}.")
    return scale


def options(prefix: str = "--", **given: Any) -> tuple[Scope, Conventions]:
    """The scope and conventions that ``given`` (the options' keyword names, None for "not
    given") asks for; ``UsageError`` for an unknown option, a bad value or an empty scope.
    ``prefix`` is how option names appear in messages (``--backprop-`` for the plugin)."""
    unknown = [key for key in given if key not in OPTION_KEYS]
    if unknown:
        raise UsageError(
            f"unknown option {unknown[0]!r}; the options are {', '.join(OPTION_KEYS)}."
        )
    scope: dict[str, Any] = {}
    conventions: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        if key in ("activations", "output_activations"):
            scope[key] = _names(value, key, ACTIVATIONS, prefix)
        elif key == "losses":
            scope[key] = _names(value, key, LOSSES, prefix)
        elif key in RANGES:
            scope[key] = _range(value, key, prefix)
        elif key in ("values", "targets"):
            scope[key] = _choice(value, key, prefix)
        elif key == "labels":
            conventions[key] = _switch(value, key, prefix)
        elif key == "loss_scale":
            conventions[key] = _scale(value, key, prefix)
        else:
            conventions[key] = _choice(value, key, prefix)
    conventions_made = Conventions(**conventions)
    if conventions_made.params == "vector" and (
        conventions_made.layout != "in-out" or conventions_made.bias != "flat"
    ):
        raise UsageError(
            f"{flag('params', prefix)} vector has no matrices: {flag('layout', prefix)} and "
            f"{flag('bias', prefix)} do not apply to it."
        )
    made = Scope(**scope, labels=conventions_made.labels)
    return made, conventions_made


def pyproject_options(directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``[tool.backprop-verify]`` table of ``directory``'s pyproject.toml (default the
    current directory) as keyword options; {} where there is no file or no table."""
    import tomllib

    path = os.path.join(os.fspath(directory or os.getcwd()), "pyproject.toml")
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, "rb") as stream:
            table = tomllib.load(stream).get("tool", {}).get("backprop-verify", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}.") from None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.backprop-verify] must be a table.")
    found = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in OPTION_KEYS:
            raise UsageError(
                f"{path}: unknown key {key!r} in [tool.backprop-verify]; the keys are "
                f"{', '.join(k.replace('_', '-') for k in OPTION_KEYS)}."
            )
        found[name] = value
    return found


# --- the scope ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What the harness draws (defaults: everything ``random_case`` draws)."""

    activations: tuple[str, ...] = ACTIVATIONS  # hidden layers
    output_activations: tuple[str, ...] = ACTIVATIONS
    losses: tuple[str, ...] = LOSSES
    depth: tuple[int, int] = RANGES["depth"]
    width: tuple[int, int] = RANGES["width"]  # hidden layers
    inputs: tuple[int, int] = RANGES["inputs"]  # n_0
    outputs: tuple[int, int] = RANGES["outputs"]  # n_L
    batch: tuple[int, int] = RANGES["batch"]
    values: str = "all"  # or "moderate": no |z| above MODERATE
    targets: str = "any"  # or "one-hot": one-hot rows for softmax, 0/1 for logistic
    labels: bool = False  # softmax targets one-hot (--labels)

    @property
    def everything(self) -> bool:
        """The default scope: nothing to restrict or check."""
        return self == Scope()

    def _one_hot(self, loss: str) -> bool:
        if loss == "softmax_cross_entropy":
            return self.targets == "one-hot" or self.labels
        return loss == "logistic" and self.targets == "one-hot"

    def draw(self, rng: np.random.Generator) -> Case:
        """A case inside the scope, from ``rng`` alone (``random_case`` with these bounds)."""
        case = random_case(
            rng,
            min_depth=self.depth[0],
            max_depth=self.depth[1],
            min_width=self.width[0],
            max_width=self.width[1],
            min_batch=self.batch[0],
            max_batch=self.batch[1],
            activations=self.activations,
            losses=self.losses,
            output_activations=self.output_activations,
            inputs=self.inputs,
            outputs=self.outputs,
        )
        spec, Y = case.spec, case.Y
        if self._one_hot(spec.loss):
            n, width = Y.shape
            if spec.loss == "logistic":
                Y = rng.integers(0, 2, size=Y.shape).astype(np.float64)
            else:
                Y = np.eye(width)[rng.integers(0, width, size=n)]
            case = Case(spec, case.params, case.X, Y)
        if self.values == "moderate":
            case = moderated(case)
        return case

    def outside(self, case: Case) -> str | None:
        """Why ``case`` lies outside the scope, in words; None if it lies inside."""
        spec = case.spec
        hidden, last = spec.activations[:-1], spec.activations[-1]
        n = case.X.shape[0]

        def span(key: str) -> str:
            low, high = getattr(self, key)
            return f"{flag(key)} {low}" if low == high else f"{flag(key)} {low}-{high}"

        checks = [
            (
                all(name in self.activations for name in hidden),
                f"a hidden activation of {hidden} is not in {flag('activations')} "
                f"{','.join(self.activations)}",
            ),
            (
                last in self.output_activations,
                f"the output activation {last!r} is not in {flag('output_activations')} "
                f"{','.join(self.output_activations)}",
            ),
            (
                spec.loss in self.losses,
                f"the loss {spec.loss!r} is not in {flag('losses')} {','.join(self.losses)}",
            ),
            (self.depth[0] <= spec.depth <= self.depth[1], f"depth {spec.depth}: {span('depth')}"),
            (
                all(self.width[0] <= w <= self.width[1] for w in spec.widths[1:-1]),
                f"hidden widths {spec.widths[1:-1]}: {span('width')}",
            ),
            (
                self.inputs[0] <= spec.widths[0] <= self.inputs[1],
                f"n_0 = {spec.widths[0]}: {span('inputs')}",
            ),
            (
                self.outputs[0] <= spec.widths[-1] <= self.outputs[1],
                f"n_L = {spec.widths[-1]}: {span('outputs')}",
            ),
            (self.batch[0] <= n <= self.batch[1], f"n = {n}: {span('batch')}"),
        ]
        for inside, what in checks:
            if not inside:
                return what
        if self._one_hot(spec.loss) and not _one_hot_targets(spec.loss, case.Y):
            return "the targets are not one-hot (--targets one-hot, or --labels)"
        if self.values == "moderate" and _largest_z(case) > MODERATE:
            return f"a |z| exceeds {MODERATE:g} (--values moderate)"
        return None

    def admits(self, case: Case) -> bool:
        return self.everything or self.outside(case) is None

    def as_dict(self) -> dict[str, Any]:
        return {
            f.name.replace("_", "-"): list(value) if isinstance(value, tuple) else value
            for f in fields(self)
            if f.name != "labels"
            for value in [getattr(self, f.name)]
        }


def _one_hot_targets(loss: str, Y: np.ndarray) -> bool:
    if loss == "logistic":
        return bool(np.isin(Y, (0.0, 1.0)).all())
    return bool(np.isin(Y, (0.0, 1.0)).all() and (Y.sum(axis=1) == 1).all())


def _largest_z(case: Case) -> float:
    from reference.network import numpy_activation

    a, largest = case.X, 0.0
    with np.errstate(all="ignore"):
        for (W, b), name in zip(case.params, case.spec.activations, strict=True):
            z = a @ W + b
            largest = max(largest, float(np.abs(z).max(initial=0.0)))
            a = numpy_activation(name)(z)
    return largest if math.isfinite(largest) else math.inf
