"""Choosing between NumPy and JAX from the arrays a caller passes in.

The same formulas run on both: NumPy when every input is a NumPy array or a nested list (no JAX
import, dispatch or compilation), ``jax.numpy`` when any input is a JAX array or tracer (which is
what ``jax.jit`` passes).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["prepare"]


def _is_jax_array(value: Any) -> bool:
    jax = sys.modules.get("jax")  # a JAX array cannot exist unless JAX was imported
    return jax is not None and isinstance(value, jax.Array)


def _leaves(params: Any, X: Any, Y: Any) -> list[Any]:
    return [array for pair in params for array in pair] + [X] + ([] if Y is None else [Y])


def prepare(params: Any, X: Any, Y: Any = None) -> tuple[ModuleType, list, Any, Any]:
    """Return ``(xp, params, X, Y)`` with every array in one floating dtype of namespace ``xp``.

    The dtype is the promotion of the inputs' dtypes; integer inputs compute in float64 on
    NumPy (and in JAX's default float on JAX). ``Y=None`` (the forward pass needs no targets)
    takes no part in the promotion and comes back as None.
    """
    leaves = _leaves(params, X, Y)
    if any(_is_jax_array(leaf) for leaf in leaves):
        import jax.numpy as xp

        arrays = [xp.asarray(leaf) for leaf in leaves]
        dtype = xp.result_type(*arrays)
        if not xp.issubdtype(dtype, xp.floating):
            dtype = xp.asarray(0.0).dtype
    else:
        xp = np
        arrays = [np.asarray(leaf) for leaf in leaves]
        dtype = np.result_type(*arrays)
        if not np.issubdtype(dtype, np.floating):
            dtype = np.dtype(np.float64)
    arrays = [array.astype(dtype) for array in arrays]
    pairs = [(arrays[2 * k], arrays[2 * k + 1]) for k in range(len(params))]
    X, *rest = arrays[2 * len(params) :]
    return xp, pairs, X, rest[0] if rest else None
