"""The ``backprop-verify`` command line."""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

__all__ = ["main"]


def _trace(args: argparse.Namespace) -> int:
    from reports.lecture import EXERCISE_2
    from reports.trace import render, trace

    result = trace(EXERCISE_2["params"], EXERCISE_2["X"], EXERCISE_2["Y"], EXERCISE_2["spec"])
    print("The lecture's exercise 2, worked through by three witnesses.")
    print(render(result))
    return 0 if result.agrees else 1


def _check(args: argparse.Namespace) -> int:
    import json

    from reference.harness import UsageError, check, load_implementation

    try:
        implementation = load_implementation(args.target)
    except UsageError as exc:
        return _usage(str(exc))
    if args.json is not None:
        try:
            with open(args.json, "a"):
                pass
        except OSError as exc:
            return _usage(f"cannot write the JSON report to {args.json!r}: {exc.strerror}.")
    found = check(
        implementation,
        examples=args.examples,
        seed=args.seed,
        dtype=args.dtype,
        name=args.target,
    )
    print(found.render())
    if args.json is not None:
        with open(args.json, "w") as stream:
            json.dump(_finite(found.as_json()), stream, indent=2, allow_nan=False)
            stream.write("\n")
    return 0 if found.ok else 1


def _finite(value: object) -> object:
    """``value`` with every non-finite float (an infinite relative error, say) made null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _bench(args: argparse.Namespace) -> int:
    from reports.bench import run

    run(quick=args.quick)
    return 0


def _whole(least: int, rule: str):
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


_positive = _whole(1, "must be at least 1")
_seed = _whole(0, "must not be negative")


def _usage(message: str) -> int:
    print(f"backprop-verify: error: {message}", file=sys.stderr)
    return 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        message = message[0].lower() + message[1:] if message else message
        self.exit(2, f"{self.prog}: error: {message.rstrip('.')}.\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="backprop-verify",
        description="Prove a hand-written backpropagation right, or show where it is wrong.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    trace = commands.add_parser(
        "trace", help="work the lecture's exercise 2 through, layer by layer, with all witnesses"
    )
    trace.set_defaults(run=_trace)
    check = commands.add_parser(
        "check",
        help="check an implementation MODULE:FUNCTION on random cases",
        description=(
            "Draw random networks and data, compare MODULE:FUNCTION with jax.grad and finite "
            "differences, and shrink any failure to a minimal counterexample. Exit 0: every case "
            "agrees; 1: a disagreement; 2: a usage error."
        ),
    )
    check.add_argument("target", metavar="MODULE:FUNCTION", help="the implementation to check")
    check.add_argument(
        "--examples",
        type=_positive,
        default=100,
        metavar="N",
        help="random cases to draw (default 100)",
    )
    check.add_argument(
        "--seed", type=_seed, default=0, metavar="S", help="seed of the draw (default 0)"
    )
    check.add_argument("--json", metavar="PATH", help="also write the verdict as JSON to PATH")
    check.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="precision the implementation is given and judged in (default float64)",
    )
    check.set_defaults(run=_check)
    bench = commands.add_parser(
        "bench",
        help="time the harness, the finite differences and the jitted gradient, as ratios",
        description="Speed measured side by side in one run: the check harness's marginal rate, "
        "finite differences against a plain per-entry loop, the directional mode against "
        "jax.test_util.check_grads, jitted manual.gradients against jitted jax.grad.",
    )
    bench.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 agree, 1 disagree, 2 usage error)."""
    args = _parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
