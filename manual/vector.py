"""The lecture's parameter vector w: every weight, layer by layer, weights before biases.

Order: W^(1) row by row (W_11, W_12, ..., W_21, ...), then b^(1), then W^(2), b^(2), and so on.
The lecture calls the order arbitrary; fixing this one gives entry k of any gradient vector a
single lecture name such as ``"W^(2)_13"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from reference.spec import as_spec, lecture_name

__all__ = ["pack", "parameter_names", "unpack"]


def pack(params: Any) -> np.ndarray:
    """Flatten L pairs (W^(l) (n_{l-1}, n_l), b^(l) (n_l,)) into w, shape (P,)."""
    parts = []
    for W, b in params:
        parts.append(np.asarray(W).reshape(-1))  # row-major: W_11, W_12, ..., W_21, ...
        parts.append(np.asarray(b).reshape(-1))
    return np.concatenate(parts)


def unpack(w: Any, spec: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inverse of ``pack``: split w, shape (P,), into pairs shaped by ``spec.widths``."""
    spec = as_spec(spec)
    w = np.asarray(w)
    if w.shape != (spec.parameter_count,):
        raise ValueError(
            f"w has shape {w.shape} but spec widths {spec.widths} need ({spec.parameter_count},)."
        )
    params, start = [], 0
    for w_shape, (n_out,) in spec.shapes():
        size = w_shape[0] * w_shape[1]
        W = w[start : start + size].reshape(w_shape)
        b = w[start + size : start + size + n_out]
        params.append((W, b))
        start += size + n_out
    return params


def parameter_names(widths: Sequence[int] | Any) -> list[str]:
    """The lecture name of every entry of w, in ``pack`` order, indices 1-based.

    Accepts the widths tuple or a spec. ``["W^(1)_11", "W^(1)_12", ..., "b^(1)_1", ...]``; in a
    layer with 10 or more nodes on either side the indices are separated: ``"W^(1)_1,12"``.
    """
    widths = tuple(getattr(widths, "widths", widths))
    names = []
    for layer, (n_in, n_out) in enumerate(pairwise(widths), start=1):
        names.extend(
            lecture_name("W", layer, (i, j), (n_in, n_out))
            for i in range(n_in)
            for j in range(n_out)
        )
        names.extend(lecture_name("b", layer, (j,)) for j in range(n_out))
    return names
