"""JAX's persistent compilation cache for the command line: a second run in a fresh process
loads the compiled witnesses instead of compiling them again.

The command line owns its process, so it sets JAX's process-wide cache options; importing the
packages from Python changes nothing. The cache lives in ``$XDG_CACHE_HOME/backprop-verify/jax``
(``~/.cache/...`` by default); ``BACKPROP_VERIFY_CACHE`` names another directory, or ``off``
turns the cache off.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_VARIABLE", "cache_directory", "use_compilation_cache"]

#: A directory for the cache, or ``off``.
CACHE_VARIABLE = "BACKPROP_VERIFY_CACHE"


def cache_directory() -> Path | None:
    """Where compiled functions are kept, None if the cache is turned off."""
    chosen = os.environ.get(CACHE_VARIABLE, "")
    if chosen.lower() in ("off", "0", "no", "false"):
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "backprop-verify" / "jax"


def use_compilation_cache() -> Path | None:
    """Turn JAX's persistent compilation cache on for this process, every compilation kept (the
    witnesses' take 0.1-2 s each, under JAX's default threshold of 1 s); returns the directory,
    None where the cache is off or its directory cannot be made."""
    directory = cache_directory()
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: run without the cache rather than fail
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", os.fspath(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory
