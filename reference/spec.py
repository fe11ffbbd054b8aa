"""The contract's ``Spec`` and the checks that keep bad input away from the numerics.

Nothing here imports JAX: ``manual`` uses these checks on its NumPy path, where no JAX
dispatch or compilation may happen.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "KINKED_ACTIVATIONS",
    "LOSSES",
    "Spec",
    "StructureError",
    "arrays_of",
    "as_arrays",
    "as_spec",
    "check_arrays",
    "lecture_name",
    "vector_of",
]

#: Activation names, each exactly as ``jax.nn`` defines it (derivative conventions included).
ACTIVATIONS: tuple[str, ...] = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus")

#: Activations with a kink at z = 0, where a central difference straddling 0 is meaningless.
KINKED_ACTIVATIONS: frozenset[str] = frozenset({"relu", "leaky_relu"})

#: Loss names; each is summed over output units k, then averaged over examples.
LOSSES: tuple[str, ...] = ("square", "output", "logistic", "softmax_cross_entropy")


def _names(valid: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in valid)


@dataclass(frozen=True)
class Spec:
    """The architecture of a fully-connected feedforward network and its loss.

    Attributes:
        widths: ``(n_0, n_1, ..., n_L)``, the number of nodes in each layer, input first.
        activations: ``L`` activation names, one per layer ``1 ... L``; the last is the output's.
        loss: the per-example loss name.

    Lists are accepted and stored as tuples, so a ``Spec`` is hashable and can be a static
    argument of ``jax.jit``. Invalid values raise ``ValueError`` or ``TypeError`` on construction.
    """

    widths: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str

    def __post_init__(self) -> None:
        widths = _as_tuple(self.widths, "widths")
        activations = _as_tuple(self.activations, "activations")
        for width in widths:
            if isinstance(width, bool) or not isinstance(width, numbers.Integral):
                raise TypeError(f"Spec widths must be integers, got {width!r} in {widths!r}.")
        widths = tuple(int(width) for width in widths)
        if len(widths) < 2:
            raise ValueError(
                f"Spec widths must name the input and at least one layer, got {widths!r}."
            )
        if any(width < 1 for width in widths):
            raise ValueError(f"Spec widths must all be at least 1, got {widths!r}.")
        if len(activations) != len(widths) - 1:
            raise ValueError(
                f"Spec has {len(widths) - 1} layers (widths {widths!r}) but "
                f"{len(activations)} activations {activations!r}; give one per layer."
            )
        for name in activations:
            if name not in ACTIVATIONS:
                raise ValueError(
                    f"Unknown activation {name!r}; valid activations are {_names(ACTIVATIONS)}."
                )
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss {self.loss!r}; valid losses are {_names(LOSSES)}.")
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "activations", activations)

    @property
    def depth(self) -> int:
        """``L``, the number of layers with weights."""
        return len(self.widths) - 1

    @property
    def parameter_count(self) -> int:
        """The length of the lecture's parameter vector ``w``."""
        return sum((n_in + 1) * n_out for n_in, n_out in pairwise(self.widths))

    def shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        """The shapes ``[((n_{l-1}, n_l), (n_l,)), ...]`` of ``(W, b)`` for layers 1 ... L."""
        return [((n_in, n_out), (n_out,)) for n_in, n_out in pairwise(self.widths)]


def _as_tuple(value: Any, field: str) -> tuple:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"Spec {field} must be a tuple or list, got {value!r}.")
    return tuple(value)


def as_spec(spec: Any) -> Spec:
    """Return ``spec`` as a validated ``Spec``; any object with the three fields is accepted."""
    if isinstance(spec, Spec):
        return spec
    try:
        return Spec(spec.widths, spec.activations, spec.loss)
    except AttributeError:
        raise TypeError(
            f"spec must have 'widths', 'activations' and 'loss' (a reference.Spec), "
            f"got {type(spec).__name__}."
        ) from None


def _shape(array: Any) -> tuple[int, ...] | None:
    shape = getattr(array, "shape", None)
    if shape is None:
        try:
            shape = np.shape(array)
        except ValueError:  # a ragged nested list
            return None
    return tuple(shape)


def check_arrays(params: Any, X: Any, Y: Any, spec: Spec) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``params``, ``X`` and ``Y`` fit ``spec``.

    ``params`` must be ``L`` pairs ``(W, b)`` with ``W`` of shape (n_{l-1}, n_l) and ``b`` of
    shape (n_l,); ``X`` of shape (n, n_0) and ``Y`` of shape (n, n_L) with the same n >= 1.
    Only shapes are read, so this also works on JAX tracers under ``jax.jit``.
    """
    if isinstance(params, str | bytes) or not isinstance(params, Sequence):
        raise TypeError(f"params must be a list of (W, b) pairs, got {type(params).__name__}.")
    if len(params) != spec.depth:
        raise ValueError(
            f"params has {len(params)} layers but spec widths {spec.widths} describe {spec.depth}."
        )
    previous = None
    for layer, (pair, (w_shape, b_shape)) in enumerate(
        zip(params, spec.shapes(), strict=True), start=1
    ):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"layer {layer}: params entries must be (W, b) pairs, got {pair!r}.")
        W, b = pair
        got_w, got_b = _shape(W), _shape(b)
        if got_w != w_shape:
            if (
                previous is not None
                and got_w is not None
                and len(got_w) == 2
                and got_w[0] != previous[1]
            ):
                raise ValueError(
                    f"layer {layer}: W^({layer}) has shape {got_w}, which does not chain with "
                    f"W^({layer - 1}) of shape {previous}; spec widths {spec.widths} need "
                    f"{w_shape}."
                )
            raise ValueError(
                f"layer {layer}: W^({layer}) has shape {got_w} but spec widths {spec.widths} "
                f"need {w_shape}."
            )
        if got_b != b_shape:
            raise ValueError(
                f"layer {layer}: b^({layer}) has shape {got_b} but spec widths {spec.widths} "
                f"need {b_shape}."
            )
        previous = got_w
    x_shape, y_shape = _shape(X), _shape(Y)
    if x_shape is None or len(x_shape) != 2 or x_shape[1] != spec.widths[0] or x_shape[0] < 1:
        raise ValueError(
            f"X has shape {x_shape} but must be (n, {spec.widths[0]}): one example per row, n >= 1."
        )
    n = x_shape[0]
    if y_shape != (n, spec.widths[-1]):
        raise ValueError(
            f"Y has shape {y_shape} but must be ({n}, {spec.widths[-1]}) to match X's {n} "
            f"rows and the {spec.widths[-1]} output units."
        )


def as_arrays(
    params: Any, X: Any, Y: Any, dtype: Any = None
) -> tuple[list, np.ndarray, np.ndarray]:
    """NumPy copies of params, X, Y in one floating dtype (their promotion, or ``dtype``)."""
    params = [(np.asarray(W), np.asarray(b)) for W, b in params]
    X, Y = np.asarray(X), np.asarray(Y)
    if dtype is None:
        dtype = np.result_type(*[a for pair in params for a in pair], X, Y)
        if not np.issubdtype(dtype, np.floating):
            dtype = np.float64
    dtype = np.dtype(dtype)
    return [(W.astype(dtype), b.astype(dtype)) for W, b in params], X.astype(dtype), Y.astype(dtype)


class StructureError(Exception):
    """The implementation returned a gradient of the wrong structure, said in its own terms."""


def lecture_name(
    param: str, layer: int, index: tuple[int, ...], shape: tuple[int, ...] = ()
) -> str:
    """The lecture name of one entry, 1-based: ``("W", 2, (0, 2))`` -> ``"W^(2)_13"``.

    ``param`` is any symbol (``"W"``, ``"b"``, ``"z"``, ``"∂H/∂a"``); ``index`` 0-based. Indices
    are comma-separated where the array (``shape``) or the index reaches 10, so that ``"13"``
    always reads as (1, 3): ``"W^(1)_1,12"``. The one naming rule of the project.
    """
    ones = [i + 1 for i in index]
    sep = "," if max((*ones, *shape)) >= 10 else ""
    return f"{param}^({layer})_{sep.join(str(i) for i in ones)}"


def arrays_of(pairs: Any) -> list:
    """The arrays of L (W, b) pairs in order: W^(1), b^(1), W^(2), ..."""
    return [array for pair in pairs for array in pair]


def vector_of(pairs: Any) -> np.ndarray:
    """L (W, b) pairs as one flat float64 vector, in ``arrays_of`` order, each row-major."""
    return np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays_of(pairs)])
