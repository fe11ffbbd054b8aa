"""The command line's shared options and argument types: the scope and conventions flags
(``../CONTRACT.md`` section 5), ``--examples``/``--seed``, whole numbers and seconds, the output
paths, checked before any work, and a parser whose usage errors are one line."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any, NoReturn

from reference.scope import UsageError

__all__ = [
    "Parser",
    "chosen_options",
    "draw_options",
    "positive",
    "scope_options",
    "seconds",
    "seed_number",
    "whole",
    "writable_file",
    "writable_folder",
]


#: The scope and conventions options (``../CONTRACT.md`` section 5): metavar, help.
SCOPE_HELP = {
    "activations": ("NAMES", "comma-separated activations allowed in hidden layers"),
    "output_activations": ("NAMES", "activations allowed in the output layer"),
    "losses": ("NAMES", "losses allowed"),
    "depth": ("A-B", "number of layers L (a single number fixes it)"),
    "width": ("A-B", "units of each hidden layer"),
    "inputs": ("A-B", "n_0, the inputs"),
    "outputs": ("A-B", "n_L, the outputs"),
    "batch": ("A-B", "examples n"),
    "values": ("moderate|all", "moderate: no activation or loss overflows (default all)"),
    "targets": ("any|one-hot", "one-hot: one-hot softmax targets, 0/1 logistic ones"),
}
CONVENTION_HELP = {
    "layout": ("in-out|out-in", "W as (n_{l-1}, n_l) (default) or (n_l, n_{l-1})"),
    "examples_as": ("rows|columns", "examples as rows of X and Y (default) or as columns"),
    "bias": ("flat|column|row", "b as (n_l,) (default), (n_l, 1) or (1, n_l)"),
    "params": (
        "pairs|vector|dict",
        "[(W, b), ...] (default), the lecture's parameter vector, or {'W1': ..., 'b1': ...}",
    ),
    "reduction": ("mean|sum", "the gradient of the mean loss (default) or of the sum"),
    "loss_scale": ("C", "the implementation's loss is C times the contract's (0.5: ½ Σ (H-y)²)"),
}


def scope_options(parser: argparse.ArgumentParser) -> None:
    """The scope and conventions flags; None where not given (pyproject.toml may set them)."""
    scope = parser.add_argument_group("scope (what is drawn; default everything)")
    for key, (metavar, text) in SCOPE_HELP.items():
        scope.add_argument(f"--{key.replace('_', '-')}", metavar=metavar, help=text)
    conventions = parser.add_argument_group(
        "conventions (how the implementation takes its arguments; default the contract's)"
    )
    for key, (metavar, text) in CONVENTION_HELP.items():
        conventions.add_argument(f"--{key.replace('_', '-')}", metavar=metavar, help=text)
    conventions.add_argument(
        "--labels",
        action="store_true",
        default=None,
        help="softmax_cross_entropy targets as integer class labels of shape (n,)",
    )


def chosen_options(args: argparse.Namespace) -> dict[str, Any]:
    """The scope and conventions asked for: pyproject.toml's [tool.backprop-verify] table in
    the current directory, then the flags given (they win); checked here, so that a bad value
    stops before any work."""
    from reference.scope import OPTION_KEYS, options, pyproject_options

    chosen = pyproject_options()
    chosen.update(
        {key: getattr(args, key) for key in OPTION_KEYS if getattr(args, key) is not None}
    )
    options(**chosen)
    return chosen


def whole(least: int, rule: str):
    """An argparse type: a whole number of at least ``least`` (``rule`` says so otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{rule}, got {value}")
        return value

    return parse


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, not negative."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number, not negative, got {text}")
    return value


positive = whole(1, "must be at least 1")
seed_number = whole(0, "must not be negative")


def draw_options(parser: argparse.ArgumentParser, examples: int, where: str) -> None:
    """``--examples N`` and ``--seed S``: how many random cases, and the seed they come from."""
    parser.add_argument(
        "--examples",
        type=positive,
        default=examples,
        metavar="N",
        help=f"random cases {where} (default {examples})",
    )
    parser.add_argument(
        "--seed", type=seed_number, default=0, metavar="S", help="seed of the draw (default 0)"
    )


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        message = message[0].lower() + message[1:] if message else message
        self.exit(2, f"{self.prog}: error: {message.rstrip('.')}.\n")


def writable_folder(folder: str, what: str, given: str | None = None) -> Path:
    """``folder`` as a Path, made and checked writable; ``UsageError`` in one sentence that
    names ``given``, the --out the user typed (default ``folder``)."""
    given = folder if given is None else given
    out = Path(folder)
    for part in (Path(given), out):
        if part.exists() and not part.is_dir():
            raise UsageError(f"--out {given!r} is a file, not a directory.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".backprop-verify-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write {what} to {given!r}: {exc.strerror}.") from None
    return out


def writable_file(path: str, what: str) -> None:
    """``UsageError`` in one sentence unless ``path`` can be written as ``what``: its folder
    exists and is writable and it is no directory."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        why = "it is a directory"
    elif not os.path.isdir(folder):
        why = "no such directory"
    elif not os.access(folder, os.W_OK):
        why = "permission denied"
    else:
        return
    raise UsageError(f"cannot write {what} to {path!r}: {why}.")
