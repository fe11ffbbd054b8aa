"""The ``jax.grad`` witness's results kept on disk between processes, for the command line.

A check draws the same cases from the same seed, so a second ``check`` meets the cases of the
first again. The ``jax.grad`` pass of a case is a pure function of the case (its architecture,
dtype and the exact bytes of W, b, X and Y) and of what computes it (the JAX and jaxlib
versions, this package's source, the machine, the ``JAX_*``/``XLA_*`` environment), so a pass
computed once can be read back instead of computed: a fresh process that meets only cases it
has seen never imports JAX. The implementation and the finite differences run every time.

Off unless ``use(directory)`` turns it on (the command line does, in its cache directory);
importing the packages from Python keeps every witness computed. Only the harness's small
cases are kept (those that run on the CPU), each under ``ENTRY_BYTES``; past ``ENTRIES`` the
oldest half is removed. Each entry is one file (a checksum, a header naming each array's dtype
and shape, the arrays' bytes: reading it back costs less than the warm computation), written
whole or not at all; one that cannot be read or fails its checksum is computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ENTRIES", "ENTRY_BYTES", "directory", "key", "load", "save", "use"]

#: Entries kept per environment before the oldest half goes, and the largest entry kept.
ENTRIES, ENTRY_BYTES = 10_000, 2 * 1024 * 1024
#: Bumped whenever what an entry holds changes; the entries' file suffix.
_FORMAT, _SUFFIX = 2, ".pass"

_directory: list[Path | None] = [None]


def use(where: os.PathLike | str | None) -> None:
    """Keep the witness's results in ``where`` from now on (None: compute every one)."""
    _directory[0] = None if where is None else Path(where)


def directory() -> Path | None:
    """Where results are kept, None where they are computed every time."""
    return _directory[0]


@cache
def _sources() -> bytes:
    """This package's source: a change to any witness, bound or pad gives new keys."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.digest()


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("jax", "jaxlib"):
        try:
            found.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name}=?")
    return " ".join(found)


def _processor() -> str:
    """The CPU's instruction-set flags where Linux tells them (XLA compiles for the host's)."""
    try:
        with open("/proc/cpuinfo") as stream:
            return next((line for line in stream if line.startswith("flags")), "")
    except OSError:
        return platform.processor()


@cache
def _environment() -> str:
    """Everything but the case that the result depends on, as a short name for a folder."""
    settings = sorted(
        (name, value) for name, value in os.environ.items() if name.startswith(("JAX_", "XLA_"))
    )
    digest = hashlib.sha256(_sources())
    for part in (_FORMAT, _versions(), platform.machine(), _processor(), settings):
        digest.update(repr(part).encode() + b"\0")
    return digest.hexdigest()[:16]


def _global_x64() -> bool:
    """JAX's process-wide float64 switch (a float32 pass may read it): JAX's own setting where
    JAX is imported, else what JAX will read from ``JAX_ENABLE_X64`` when it is."""
    jax = sys.modules.get("jax")
    if jax is not None:
        return bool(jax.config.jax_enable_x64)
    return os.environ.get("JAX_ENABLE_X64", "").lower() in ("y", "yes", "t", "true", "on", "1")


def key(params: list, X: np.ndarray, Y: np.ndarray, spec: Any) -> str:
    """The case's name among the entries: its architecture, dtype and every array's bytes."""
    digest = hashlib.sha256()
    fields = (spec.widths, spec.activations, spec.loss, X.dtype.str, _global_x64())
    digest.update(repr(fields).encode())
    for array in [a for pair in params for a in pair] + [X, Y]:
        digest.update(repr(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _folder() -> Path | None:
    where = directory()
    return None if where is None else where / _environment()


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as one record: a SHA-256 of the rest, the length of a JSON header naming each
    array's dtype and shape, the header, and the arrays' bytes one after another."""
    header = json.dumps([(name, a.dtype.str, a.shape) for name, a in arrays.items()]).encode()
    body = len(header).to_bytes(4, "little") + header
    body += b"".join(np.ascontiguousarray(a).tobytes() for a in arrays.values())
    return hashlib.sha256(body).digest() + body


def _unpack(record: bytes) -> dict[str, np.ndarray]:
    """``_pack`` read back; ValueError where the record was changed or cut short."""
    body = memoryview(record)[32:]
    if hashlib.sha256(body).digest() != record[:32]:
        raise ValueError("the record does not match its checksum")
    length = int.from_bytes(body[:4], "little")
    arrays, at = {}, 4 + length
    for name, dtype, shape in json.loads(bytes(body[4:at])):
        count = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(body, dtype=dtype, count=count, offset=at).reshape(shape)
        arrays[name] = array.copy()
        at += array.nbytes
    if at != len(body):
        raise ValueError("the record is longer than its arrays")
    return arrays


def load(name: str) -> dict[str, np.ndarray] | None:
    """The arrays saved for the case ``name`` (its ``key``), None where there are none (or they
    cannot be read)."""
    folder = _folder()
    if folder is None:
        return None
    try:
        return _unpack((folder / f"{name}{_SUFFIX}").read_bytes())
    except Exception:  # missing, cut short, changed, written by something else: compute again
        return None


def save(name: str, arrays: dict[str, np.ndarray]) -> None:
    """Keep ``arrays`` for the case ``name`` (its ``key``); a failure to write (a full or
    read-only disk) is ignored."""
    folder = _folder()
    if folder is None or sum(a.nbytes for a in arrays.values()) > ENTRY_BYTES:
        return
    partial = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _make_room(folder)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".partial", delete=False) as stream:
            partial = stream.name
            stream.write(_pack(arrays))
        os.replace(partial, folder / f"{name}{_SUFFIX}")
    except OSError:
        if partial is not None:
            Path(partial).unlink(missing_ok=True)


_checked: set[Path] = set()


def _make_room(folder: Path) -> None:
    """Once per process and folder: past ``ENTRIES`` entries, remove the older half."""
    if folder in _checked:
        return
    _checked.add(folder)
    entries = list(os.scandir(folder))
    if len(entries) <= ENTRIES:
        return
    entries.sort(key=lambda entry: entry.stat().st_mtime)
    for entry in entries[: len(entries) - ENTRIES // 2]:
        Path(entry.path).unlink(missing_ok=True)
