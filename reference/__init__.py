"""The reference witnesses: the gradient by ``jax.grad`` and by finite differences.

``Spec`` and the strategies import without JAX; the JAX-backed names load on first use, so
``from reference.spec import Spec`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from reference.spec import ACTIVATIONS, LOSSES, Spec

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Spec",
    "autodiff_gradients",
    "fd_gradients",
    "finite_differences",
]

_LAZY = {
    "autodiff_gradients": "reference.autodiff",
    "autodiff_backward": "reference.autodiff",
    "fd_gradients": "reference.fd",
    "finite_differences": "reference.fd",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reference' has no attribute {name!r}")
