"""The command line's caches: JAX's persistent compilation cache, and the ``jax.grad``
witness's results of the cases met before (``reference.witness_cache``). A second run in a fresh
process loads the compiled witnesses instead of compiling them again, and reads back the
``jax.grad`` pass of each case it has seen (the same seed draws the same cases) instead of
computing it; a run that meets only such cases never imports JAX.

The command line owns its process, so it sets JAX's process-wide cache options; importing the
packages from Python changes nothing. The caches live in ``$XDG_CACHE_HOME/backprop-verify``
(``~/.cache/...`` by default), JAX's in ``jax/``, the witness's in ``jax-grad/``;
``BACKPROP_VERIFY_CACHE`` names another directory, or ``off`` turns both off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import reference.witness_cache as witness_cache

__all__ = ["CACHE_VARIABLE", "JAX_VARIABLES", "cache_directory", "use_compilation_cache"]

#: A directory for the caches, or ``off``.
CACHE_VARIABLE = "BACKPROP_VERIFY_CACHE"

#: JAX's options for its cache, every compilation kept (the witnesses' take 0.1-2 s each, under
#: JAX's default threshold of 1 s).
_JAX_OPTIONS = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}


#: The environment variables through which JAX reads those options (and the directory).
JAX_VARIABLES = ("JAX_COMPILATION_CACHE_DIR", *(name.upper() for name in _JAX_OPTIONS))


def cache_directory() -> Path | None:
    """Where the caches are kept, None if they are turned off."""
    chosen = os.environ.get(CACHE_VARIABLE, "")
    if chosen.lower() in ("off", "0", "no", "false"):
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "backprop-verify"


def use_compilation_cache(*, keep_results: bool = True) -> Path | None:
    """Turn both caches on for this process (JAX's alone with ``keep_results=False``); returns
    their directory, None where they are off or the directory cannot be made.

    JAX reads its options from the environment when it is imported: set there, they cost no
    import of JAX now (a run that reads every ``jax.grad`` pass back needs none) and reach the
    worker processes of ``--jobs`` too. Where JAX is imported already they are set directly.
    """
    directory = cache_directory()
    if directory is None:
        return None
    try:
        (directory / "jax").mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: run without the caches rather than fail
        return None
    options = {"jax_compilation_cache_dir": os.fspath(directory / "jax"), **_JAX_OPTIONS}
    jax = sys.modules.get("jax")
    for name, value in options.items():
        if jax is None:
            os.environ[name.upper()] = str(value)
        else:
            jax.config.update(name, value)
    if keep_results:
        witness_cache.use(directory / "jax-grad")
    return directory
