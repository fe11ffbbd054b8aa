"""The three-way check: a candidate implementation, ``jax.grad`` and finite differences."""

from __future__ import annotations

import contextlib
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference.autodiff import AutodiffPass, as_arrays, autodiff_backward
from reference.compare import (
    Comparison,
    as_float_pairs,
    backprop_error_bound,
    compare_to_autodiff,
    compare_to_fd,
)
from reference.fd import FiniteDifferences, finite_differences
from reference.spec import Spec, as_spec, check_arrays

__all__ = ["ThreeWay", "call_implementation", "check_structure", "verify", "verify_calls"]

_CALLS = [0]


def verify_calls() -> int:
    """How many three-way checks ``verify`` has run in this process."""
    return _CALLS[0]


@dataclass
class ThreeWay:
    """The verdict on one case: every pair of witnesses compared."""

    spec: Spec
    dtype: np.dtype
    candidate: list | None  # the candidate's gradient as float64 NumPy pairs, if well-formed
    reference: AutodiffPass
    fd: FiniteDifferences
    error: str | None  # what the candidate raised or returned wrongly; None if well-formed
    vs_autodiff: Comparison | None
    vs_fd: Comparison | None
    autodiff_vs_fd: Comparison

    @property
    def ok(self) -> bool:
        """The candidate agrees with both witnesses (and the witnesses with each other)."""
        return (
            self.error is None
            and self.vs_autodiff is not None
            and self.vs_autodiff.ok
            and self.vs_fd is not None
            and self.vs_fd.ok
            and self.autodiff_vs_fd.ok
        )

    def message(self) -> str:
        """What disagrees, and where; every comparison, one section each."""
        head = f"spec {self.spec}, dtype {self.dtype}"
        if self.error is not None:
            return f"{head}\n  {self.error}"
        parts = [head]
        for comparison in (self.vs_autodiff, self.vs_fd):
            parts.append(comparison.message())
        parts.append("jax.grad " + self.autodiff_vs_fd.message())
        return "\n".join(parts)


def check_structure(result: Any, spec: Spec, dtype: Any) -> tuple[list | None, str | None]:
    """Turn an implementation's return value into float64 NumPy pairs, or say what is wrong.

    Accepts lists or tuples of pairs of any array-likes (NumPy, JAX, nested lists).
    """
    if result is None:
        return None, "returned None instead of a list of (dW, db) pairs."
    if isinstance(result, str | bytes | dict) or not hasattr(result, "__len__"):
        return None, f"returned {type(result).__name__} instead of a list of (dW, db) pairs."
    if len(result) != spec.depth:
        return None, f"returned {len(result)} layers, expected {spec.depth}."
    pairs = []
    for layer, (pair, shapes) in enumerate(zip(result, spec.shapes(), strict=True), start=1):
        if isinstance(pair, str | bytes) or not hasattr(pair, "__len__") or len(pair) != 2:
            return None, f"layer {layer}: expected a (dW, db) pair, got {type(pair).__name__}."
        arrays = []
        for param, value, shape in zip("Wb", pair, shapes, strict=True):
            try:
                array = np.asarray(value)
            except Exception as exc:
                return None, f"layer {layer}: d{param} is not an array ({exc})."
            if array.shape != shape:
                return None, f"layer {layer}: d{param} has shape {array.shape}, expected {shape}."
            if not (
                np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
            ):
                return None, f"layer {layer}: d{param} has dtype {array.dtype}, not a real number."
            arrays.append(array)
        pairs.append(tuple(arrays))
    return pairs, None


#: How the error text of a call stopped by its time limit begins.
OUT_OF_TIME = "did not return within"


class _TimeLimitError(BaseException):
    """Raised inside an implementation that runs past its time limit (a BaseException, so that
    the implementation's own ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``_TimeLimitError`` in the block after ``seconds`` of wall time.

    Works where POSIX interval timers do and only in the main thread (SIGALRM); elsewhere, while
    another alarm is pending (pytest-timeout's, say: it is left alone), and for ``seconds`` None
    or 0, there is no limit. The previous handler is restored.
    """
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getitimer(signal.ITIMER_REAL)[0] > 0:  # someone else's alarm (pytest-timeout...)
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TimeLimitError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call_implementation(
    implementation: Callable,
    params: list,
    X: np.ndarray,
    Y: np.ndarray,
    spec: Spec,
    dtype: Any,
    time_limit: float | None = None,
) -> tuple[list | None, str | None]:
    """Run ``implementation`` on copies of the inputs; its result as pairs, or what went wrong.

    Whatever it raises (SystemExit included) becomes the error text; its warnings (overflow in
    exp, ...) are its own business and never become errors here. With ``time_limit`` (seconds;
    main thread, POSIX), a call that has not returned by then is stopped and is an error too.
    """
    try:
        with _time_limit(time_limit), warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            result = implementation(
                [(W.copy(), b.copy()) for W, b in params], X.copy(), Y.copy(), spec
            )
    except _TimeLimitError:
        return None, f"{OUT_OF_TIME} {time_limit:g} s (the per-case time limit)."
    except (Exception, SystemExit) as exc:
        return None, f"raised {type(exc).__name__}: {exc}"
    return check_structure(result, spec, dtype)


def _non_finite(candidate: list, reference: list) -> str | None:
    for layer, (cand, ref) in enumerate(zip(candidate, reference, strict=True), start=1):
        for param, c, r in zip("Wb", cand, ref, strict=True):
            c = np.asarray(c, dtype=np.float64)
            wrong = ~np.isfinite(c) & np.isfinite(r)
            if wrong.any():
                index = tuple(int(i) for i in np.argwhere(wrong)[0])
                return (
                    f"layer {layer}: d{param}{list(index)} is {c[index]} where the reference is "
                    f"finite ({r[index]:.6g})."
                )
    return None


def verify(
    implementation: Callable,
    params: Any,
    X: Any,
    Y: Any,
    spec: Any,
    *,
    dtype: Any = np.float64,
    time_limit: float | None = None,
) -> ThreeWay:
    """Check ``implementation(params, X, Y, spec)`` against ``jax.grad`` and finite differences.

    The inputs are cast to ``dtype`` (float64 or float32) before the implementation sees them;
    ``jax.grad`` runs in the same dtype, the finite differences in float64. Whatever the
    implementation does (raise, return garbage, run past ``time_limit`` seconds), the result is
    a verdict, never an exception.
    """
    spec = as_spec(spec)
    check_arrays(params, X, Y, spec)
    params, X, Y = as_arrays(params, X, Y, dtype)
    _CALLS[0] += 1
    reference = autodiff_backward(params, X, Y, spec)
    fd = finite_differences(params, X, Y, spec)
    bounds = backprop_error_bound(reference, params, Y, spec, dtype)
    autodiff_vs_fd = compare_to_fd(reference.grads, fd, bounds)
    candidate, error = call_implementation(
        implementation, params, X, Y, spec, dtype, time_limit=time_limit
    )
    if error is None:
        error = _non_finite(candidate, reference.grads)
    if error is not None:
        return ThreeWay(
            spec, np.dtype(dtype), candidate, reference, fd, error, None, None, autodiff_vs_fd
        )
    vs_autodiff = compare_to_autodiff(candidate, reference, params, Y, spec, dtype, bounds)
    vs_fd = compare_to_fd(candidate, fd, bounds)
    return ThreeWay(
        spec,
        np.dtype(dtype),
        as_float_pairs(candidate),
        reference,
        fd,
        None,
        vs_autodiff,
        vs_fd,
        autodiff_vs_fd,
    )
