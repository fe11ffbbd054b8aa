"""One call of an implementation under test, whatever it does: its result as (dW, db) pairs of
the right structure, or what went wrong (it raised, returned something else, or ran past its
time limit) and the contract's kind of failure."""

from __future__ import annotations

import contextlib
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference.spec import Spec, StructureError

__all__ = ["OUT_OF_TIME", "Called", "call_implementation", "check_structure"]


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
                array = np.array(value)  # a copy: a later call may reuse its buffers
            except Exception as exc:
                return None, f"layer {layer}: d{param} is not an array ({exc})."
            if array.shape != shape:
                return None, (
                    f"layer {layer}: d{param} has shape {array.shape}, expected {shape}"
                    f"{_shape_hint(param, array.shape, shape)}."
                )
            if not (
                np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
            ):
                return None, f"layer {layer}: d{param} has dtype {array.dtype}, not a real number."
            arrays.append(array)
        pairs.append(tuple(arrays))
    return pairs, None


def _shape_hint(param: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
    """The convention a shape suggests, where it is the expected one rearranged."""
    if param == "W" and len(got) == 2 and got == want[::-1]:
        return " (the transpose: is W stored as (n_l, n_{l-1})? then use --layout out-in)"
    if param == "b" and got in ((*want, 1), (1, *want)):
        return f" (then use --bias {'column' if got[-1] == 1 else 'row'})"
    return ""


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


@dataclass
class Called:
    """One call of an implementation: its result as pairs, or what went wrong and its kind."""

    pairs: list | None
    error: str | None = None
    kind: str | None = None  # "timeout", "raised" or "bad_structure" when pairs is None
    unsupported: bool = False  # it raised NotImplementedError: the case is not in its scope


def call_implementation(
    implementation: Callable,
    params: list,
    X: np.ndarray,
    Y: np.ndarray,
    spec: Spec,
    dtype: Any,
    time_limit: float | None = None,
) -> Called:
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
        return Called(None, f"{OUT_OF_TIME} {time_limit:g} s (the per-case time limit).", "timeout")
    except StructureError as exc:  # from a conventions adapter, in the implementation's terms
        return Called(None, f"returned a gradient of the wrong structure: {exc}", "bad_structure")
    except NotImplementedError as exc:
        return Called(None, f"raised NotImplementedError: {exc}", "raised", unsupported=True)
    except (Exception, SystemExit) as exc:
        return Called(None, f"raised {type(exc).__name__}: {exc}", "raised")
    pairs, error = check_structure(result, spec, dtype)
    return Called(pairs, error, None if error is None else "bad_structure")
