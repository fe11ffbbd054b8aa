"""The ``backprop-verify`` command line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _trace(args: argparse.Namespace) -> int:
    from reports.lecture import EXERCISE_2
    from reports.trace import render, trace

    result = trace(EXERCISE_2["params"], EXERCISE_2["X"], EXERCISE_2["Y"], EXERCISE_2["spec"])
    print("The lecture's exercise 2, worked through by three witnesses.")
    print(render(result))
    return 0 if result.agrees else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backprop-verify",
        description="Prove a hand-written backpropagation right, or show where it is wrong.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    trace = commands.add_parser(
        "trace", help="work the lecture's exercise 2 through, layer by layer, with all witnesses"
    )
    trace.set_defaults(run=_trace)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 agree, 1 disagree, 2 usage error)."""
    args = _parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
