"""How an implementation takes its arguments and returns its gradient: ``Conventions``.

W as (n_ℓ, n_{ℓ-1}), examples as columns, biases as columns or rows, a parameter vector or a
dict, integer labels, a summed or scaled loss: ``Conventions.wrap`` turns an implementation
written so into a function of the contract, so that every comparison, message and diagnosis
still speaks of the lecture's W^(ℓ) and b^(ℓ), and a gradient of the wrong structure is a
``StructureError`` said in the implementation's own terms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from reference.spec import Spec, StructureError, arrays_of

__all__ = ["Conventions", "flag"]


def flag(key: str, prefix: str = "--") -> str:
    """The option's name as the user writes it: ``--output-activations``."""
    return prefix + key.replace("_", "-")


# --- reading the options ----------------------------------------------------------------------


@dataclass(frozen=True)
class Conventions:
    """How an implementation takes its arguments and returns its gradient (defaults: the
    contract's section 1)."""

    layout: str = "in-out"  # W as (n_{l-1}, n_l); "out-in": (n_l, n_{l-1})
    examples_as: str = "rows"  # X (n, n_0), Y (n, n_L); "columns": transposed
    bias: str = "flat"  # b (n_l,); "column": (n_l, 1); "row": (1, n_l)
    params: str = "pairs"  # [(W, b), ...]; "vector": the lecture's w; "dict": {"W1": ...}
    labels: bool = False  # softmax_cross_entropy's Y as integer labels (n,)
    reduction: str = "mean"  # the gradient of (1/n) Σ ℓ_i; "sum": of Σ ℓ_i
    loss_scale: float = 1.0  # the implementation's loss is this times the contract's

    @property
    def default(self) -> bool:
        return self == Conventions()

    def flags(self, prefix: str = "--") -> str:
        """The options that give these conventions: ``--layout out-in --reduction sum``."""
        words = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if f.name == "labels":
                words.append(flag("labels", prefix))
            elif f.name == "loss_scale":
                words.append(f"{flag(f.name, prefix)} {value:g}")
            else:
                words.append(f"{flag(f.name, prefix)} {value}")
        return " ".join(words)

    def as_dict(self) -> dict[str, Any]:
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)}

    def changed(self) -> dict[str, Any]:
        """The fields that differ from the defaults, as keyword arguments."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {f.name: values[f.name] for f in fields(self) if values[f.name] != f.default}

    # the arguments, from the contract's to the implementation's

    def _weights(self, W: np.ndarray) -> np.ndarray:
        return W.T.copy() if self.layout == "out-in" else W.copy()

    def _bias(self, b: np.ndarray) -> np.ndarray:
        if self.bias == "column":
            return b.reshape(-1, 1).copy()
        if self.bias == "row":
            return b.reshape(1, -1).copy()
        return b.copy()

    def arguments(self, params: list, X: np.ndarray, Y: np.ndarray, spec: Spec) -> tuple:
        """``(params, X, Y, spec)`` in these conventions (fresh copies)."""
        if self.params == "vector":
            user_params: Any = np.concatenate([a.ravel() for a in arrays_of(params)])
        elif self.params == "dict":
            user_params = {}
            for layer, (W, b) in enumerate(params, start=1):
                user_params[f"W{layer}"], user_params[f"b{layer}"] = self._weights(W), self._bias(b)
        else:
            user_params = [(self._weights(W), self._bias(b)) for W, b in params]
        if self.labels and spec.loss == "softmax_cross_entropy":
            user_Y = Y.argmax(axis=1)
        else:
            user_Y = Y.T.copy() if self.examples_as == "columns" else Y.copy()
        user_X = X.T.copy() if self.examples_as == "columns" else X.copy()
        return user_params, user_X, user_Y, spec

    def argument_code(self, spec: Spec) -> list[str]:
        """Python lines that build ``args``, the arguments in these conventions, from
        ``params``, ``X``, ``Y`` and ``spec`` (the snippet of a counterexample)."""
        W = "W.T" if self.layout == "out-in" else "W"
        b = {"flat": "b", "column": "b.reshape(-1, 1)", "row": "b.reshape(1, -1)"}[self.bias]
        if self.params == "vector":
            params = "np.concatenate([a.ravel() for W, b in params for a in (W, b)])"
        elif self.params == "dict":
            params = (
                "{key: value.copy() for layer, (W, b) in enumerate(params, 1) "
                f'for key, value in ((f"W{{layer}}", {W}), (f"b{{layer}}", {b}))}}'
            )
        else:
            params = f"[({W}.copy(), {b}.copy()) for W, b in params]"
        X = "X.T.copy()" if self.examples_as == "columns" else "X.copy()"
        if self.labels and spec.loss == "softmax_cross_entropy":
            Y = "Y.argmax(axis=1)"
        else:
            Y = "Y.T.copy()" if self.examples_as == "columns" else "Y.copy()"
        return [f"args = ({params},", f"        {X}, {Y}, spec)"]

    # the gradient, from the implementation's to the contract's

    def _expected(self, spec: Spec) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        shapes = []
        for (rows, cols), (units,) in spec.shapes():
            W = (cols, rows) if self.layout == "out-in" else (rows, cols)
            b = {"flat": (units,), "column": (units, 1), "row": (1, units)}[self.bias]
            shapes.append((W, b))
        return shapes

    def _hint(self, key: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
        """The likely convention behind a shape that is not ``want``."""
        if key == "W" and len(got) == 2 and got == want[::-1] and got != want:
            other = "in-out" if self.layout == "out-in" else "out-in"
            return f" (the transpose: is it --layout {other}?)"
        if key == "b" and math.prod(got) == math.prod(want) and got != want and len(got) <= 2:
            bias = "flat" if len(got) == 1 else "column" if got[1] == 1 else "row"
            if bias != self.bias:
                return f" (is it --bias {bias}?)"
        return ""

    def _array(self, value: Any, name: str) -> np.ndarray:
        try:
            array = np.array(value)
        except Exception as exc:
            raise StructureError(f"your {name} is not an array ({exc}).") from None
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise StructureError(f"your {name} has dtype {array.dtype}, not a real number.")
        return array

    def _shaped(self, value: Any, name: str, want: tuple[int, ...], key: str) -> np.ndarray:
        array = self._array(value, name)
        if array.shape != want:
            where = self.flags() or "the default conventions"
            where = f"with {where}" if self.flags() else "in " + where
            raise StructureError(
                f"your {name} has shape {array.shape}; {where} it should be {want}"
                f"{self._hint(key, array.shape, want)}."
            )
        return array

    def to_lecture(self, result: Any, spec: Spec, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The implementation's gradient as the contract's (dW, db) pairs; ``StructureError``
        in the implementation's own terms if it has the wrong structure."""
        shapes = self._expected(spec)
        if self.params == "vector":
            pairs = self._from_vector(result, shapes)
        elif self.params == "dict":
            pairs = self._from_dict(result, shapes, spec)
        else:
            pairs = self._from_pairs(result, shapes, spec)
        factor = self.loss_scale * (n if self.reduction == "sum" else 1)
        out = []
        for dW, db in pairs:
            dW = np.asarray(dW).T if self.layout == "out-in" else np.asarray(dW)
            db = np.asarray(db).reshape(-1)
            if factor != 1:
                dW, db = dW / factor, db / factor
            out.append((dW, db))
        return out

    def _from_vector(self, result: Any, shapes: list) -> list[tuple[Any, Any]]:
        total = sum(math.prod(w) + math.prod(b) for w, b in shapes)
        flat = self._shaped(result, "gradient vector", (total,), "vector")
        pairs, start = [], 0
        for w, b in shapes:
            dW = flat[start : start + math.prod(w)].reshape(w)
            start += math.prod(w)
            pairs.append((dW, flat[start : start + b[0]]))
            start += b[0]
        return pairs

    def _from_dict(self, result: Any, shapes: list, spec: Spec) -> list[tuple[Any, Any]]:
        if not isinstance(result, Mapping):
            raise StructureError(
                f"your gradient is a {type(result).__name__}; with --params dict it should "
                f"be a dict with the keys W1, b1, ..., W{spec.depth}, b{spec.depth}."
            )
        pairs = []
        for layer, (w, b) in enumerate(shapes, start=1):
            for key in (f"W{layer}", f"b{layer}"):
                if key not in result:
                    raise StructureError(
                        f"your gradient dict has no key {key!r} (with --params dict it has "
                        f"W1, b1, ..., W{spec.depth}, b{spec.depth})."
                    )
            pairs.append(
                (
                    self._shaped(result[f"W{layer}"], f"dW^({layer})", w, "W"),
                    self._shaped(result[f"b{layer}"], f"db^({layer})", b, "b"),
                )
            )
        return pairs

    def _from_pairs(self, result: Any, shapes: list, spec: Spec) -> list[tuple[Any, Any]]:
        if (
            result is None
            or isinstance(result, str | bytes | Mapping)
            or not hasattr(result, "__len__")
        ):
            raise StructureError(
                f"your gradient is a {type(result).__name__}; it should be a list of "
                f"{spec.depth} (dW, db) pairs."
            )
        if len(result) != spec.depth:
            raise StructureError(
                f"your gradient has {len(result)} layers; it should have {spec.depth}."
            )
        pairs = []
        for layer, (pair, (w, b)) in enumerate(zip(result, shapes, strict=True), start=1):
            if isinstance(pair, str | bytes) or not hasattr(pair, "__len__") or len(pair) != 2:
                raise StructureError(
                    f"your layer {layer} is a {type(pair).__name__}, not a (dW, db) pair."
                )
            pairs.append(
                (
                    self._shaped(pair[0], f"dW^({layer})", w, "W"),
                    self._shaped(pair[1], f"db^({layer})", b, "b"),
                )
            )
        return pairs

    def wrap(self, implementation: Callable) -> Callable:
        """``implementation`` as a function of the contract (the identity for the defaults)."""
        if self.default:
            return implementation

        def in_lecture_terms(params: list, X: np.ndarray, Y: np.ndarray, spec: Spec) -> list:
            result = implementation(*self.arguments(params, X, Y, spec))
            return self.to_lecture(result, spec, X.shape[0])

        in_lecture_terms.conventions = self  # type: ignore[attr-defined]
        return in_lecture_terms
