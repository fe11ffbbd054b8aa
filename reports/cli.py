"""The ``backprop-verify`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from reference.harness import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIME_LIMIT,
    UsageError,
    load_implementation,
)
from reports.cache import use_compilation_cache
from reports.cli_options import (
    Parser,
    chosen_options,
    draw_options,
    positive,
    scope_options,
    seconds,
    seed_number,
    whole,
    writable_file,
    writable_folder,
)
from reports.report import DEFAULT_OUT, REPORT_EXAMPLES

__all__ = ["main"]


def _trace(args: argparse.Namespace) -> int:
    from reports.trace import network_from, render, render_exercise_1, trace

    if args.weights is None:
        for name in ("x", "biases", "activations", "y"):
            if getattr(args, name) is not None:
                raise UsageError(f"--{name} needs --weights (the network to trace).")
        if args.exercise == 1:
            print(render_exercise_1())
            return 0
        from reports.lecture import EXERCISE_2

        params, X, Y, spec = (EXERCISE_2[key] for key in ("params", "X", "Y", "spec"))
        heading = "The lecture's exercise 2, worked through by three witnesses."
    else:
        try:
            params, X, Y, spec = network_from(args)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        heading = "Your network, worked through by three witnesses."
    result = trace(params, X, Y, spec)
    print(heading)
    print(render(result))
    return 0 if result.agrees else 1


def _check(args: argparse.Namespace) -> int:
    from reference.harness import check

    implementation = load_implementation(args.target)
    chosen = chosen_options(args)
    if args.json is not None:  # fail before the work, and leave no file behind
        writable_file(args.json, "the JSON report")
    found = check(
        implementation,
        examples=args.examples,
        seed=args.seed,
        dtype=args.dtype,
        name=args.target,
        time_limit=args.time_limit,
        precision=args.precision,
        case=args.case,
        jobs=args.jobs,
        **chosen,
    )
    print(found.render())
    if args.json is not None:
        from reports.report import json_text

        # whole or not at all: written beside the target, then moved over it
        text = json_text(found.as_json(), indent=2)
        partial = f"{args.json}.partial"
        with open(partial, "w") as stream:
            stream.write(text)
        os.replace(partial, args.json)
    return 0 if found.ok else 1


def _report(args: argparse.Namespace) -> int:
    implementation, name = None, None
    if args.impl is not None:
        implementation, name = load_implementation(args.impl), args.impl
    chosen = chosen_options(args)
    out = writable_folder(os.path.join(args.out, "figures"), "the report", args.out).parent
    from reports.report import build, summary_line

    data = build(
        out,
        examples=args.examples,
        seed=args.seed,
        implementation=implementation,
        name=name,
        progress=not args.quiet,
        options=chosen,
        timing=not args.no_timing,
    )
    print(summary_line(data))
    print(f"Report: {os.fspath(out / 'report.html')} (also report.md, report.json)")
    return 0 if data["verdict"]["verdict"] == "pass" else 1


def _grade(args: argparse.Namespace) -> int:

    from reference.rubric import default_items, load_rubric
    from reference.scope import options
    from reports.class_report import write_outputs
    from reports.grade import collect, grade_class
    from reports.isolate import Limits

    if args.time_limit <= 0:
        raise UsageError("--time-limit must be more than 0 seconds: each submission needs one.")
    chosen = chosen_options(args)
    scope, _ = options(**chosen)
    items = load_rubric(args.rubric, scope) if args.rubric else default_items(scope)
    submissions = collect(args.submissions, args.function)
    out = writable_folder(args.out, "the grades")
    limits = Limits(args.time_limit, args.memory_limit)
    total = sum(item.points for item in items)

    def done(graded: Any) -> None:
        why = f" (not graded: {graded.reason})" if graded.reason else ""
        print(f"{graded.submission.name}: {graded.score:g} of {total:g}{why}", flush=True)

    graded = grade_class(
        submissions,
        items,
        function=args.function,
        seed=args.seed,
        options=chosen,
        jobs=args.jobs,
        limits=limits,
        done=None if args.quiet else done,
    )
    write_outputs(graded, out, args.seed)
    scores = sorted(g.score for g in graded)
    print(
        f"Graded {len(graded)} submissions: median {scores[len(scores) // 2]:g} of {total:g}. "
        f"Class report: {out / 'class.html'} (also grades.csv and results.json per submission)"
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from reports.bench import run

    run(quick=args.quick)
    return 0


def _usage(message: str) -> int:
    print(f"backprop-verify: error: {message}", file=sys.stderr)
    return 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("backprop-verify")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="backprop-verify",
        description="Prove a hand-written backpropagation right, or show where it is wrong.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_trace_command, _check_command, _report_command, _grade_command, _bench_command):
        add(commands)
    return parser


def _trace_command(commands: Any) -> None:
    trace = commands.add_parser(
        "trace",
        help="work a lecture exercise (or your network) through, layer by layer, with all "
        "witnesses",
        description="Print the forward z and a and the backward ∂H/∂a, ∂H/∂z, ∂H/∂W, ∂H/∂b of "
        "one example, from the hand-written backprop, jax.grad and finite differences side by "
        "side: the lecture's exercise 2 (default) or 1, or the network given by --weights and "
        "--x. Exit 0: the witnesses agree; 1: they do not; 2: a usage error.",
    )
    trace.add_argument(
        "--exercise", type=int, choices=(1, 2), default=2, help="the lecture exercise (default 2)"
    )
    trace.add_argument(
        "--weights",
        metavar="JSON",
        help="your network's weight matrices W^(1) ... W^(L), each (n_{l-1}, n_l), as JSON: "
        "'[[[2, -3], [2, 1]], [[3], [-2]]]'",
    )
    trace.add_argument("--x", metavar="JSON", help="the input, a JSON list of n_0 numbers")
    trace.add_argument("--biases", metavar="JSON", help="one JSON list per layer (default 0)")
    trace.add_argument(
        "--activations",
        metavar="NAMES",
        help="comma-separated, one per layer (default relu hidden layers, identity output)",
    )
    trace.add_argument(
        "--loss", default="output", help="the loss (default output: R = H, the lecture's ∂H)"
    )
    trace.add_argument("--y", metavar="JSON", help="the target, a JSON list (default zeros)")
    trace.set_defaults(run=_trace)


def _check_command(commands: Any) -> None:
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
    draw_options(check, DEFAULT_EXAMPLES, "to draw")
    check.add_argument("--json", metavar="PATH", help="also write the verdict as JSON to PATH")
    check.add_argument(
        "--case",
        type=positive,
        metavar="K",
        help="check only case K of the draw from the seed, alone (as the report numbers cases)",
    )
    check.add_argument(
        "--time-limit",
        type=seconds,
        default=DEFAULT_TIME_LIMIT,
        metavar="S",
        help="seconds one call of the implementation may take before it counts as a failure "
        f"(default {DEFAULT_TIME_LIMIT:g}; 0: no limit)",
    )
    check.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="precision the implementation is given and judged in (default float64)",
    )
    check.add_argument(
        "--precision",
        choices=("standard", "strict"),
        default="standard",
        help="numerical standard: activation values accurate to a few units of roundoff of "
        "the activation's scale (standard, the default) or of each value (strict)",
    )
    check.add_argument(
        "--jobs",
        type=positive,
        default=1,
        metavar="N",
        help="worker processes that judge the cases (default 1); the same cases, verdict and "
        "counterexample as one",
    )
    scope_options(check)
    check.set_defaults(run=_check)


def _report_command(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="write the comparison report: report.html, report.md and report.json",
        description="Work the lecture's exercises through, sweep random architectures, study "
        "the finite-difference step and time the witnesses; write report.html (self-contained), "
        "report.md (figures beside it) and report.json. Exit 0: the implementation agrees; 1: "
        "it does not; 2: a usage error.",
    )
    report.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"directory to write into (default ./{DEFAULT_OUT})",
    )
    draw_options(report, REPORT_EXAMPLES, "in the sweep")
    report.add_argument(
        "--impl",
        metavar="MODULE:FUNCTION",
        help="check this implementation instead of manual:gradients",
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.add_argument(
        "--no-timing", action="store_true", help="leave out the timing of the witnesses"
    )
    scope_options(report)
    report.set_defaults(run=_report)


def _grade_command(commands: Any) -> None:
    from reports.grade import DEFAULT_GRADES_OUT, DEFAULT_MEGABYTES, DEFAULT_SECONDS

    grade = commands.add_parser(
        "grade",
        help="grade a class of submissions against a rubric in lecture terms",
        description="Grade each SUBMISSION (a .py file, or a folder holding one) in a process "
        "of its own, with limits, against a rubric of the lecture's formulas, each activation "
        "and loss, the batch, the exercises, determinism and robustness. Writes "
        "results.json per submission (Gradescope's format), grades.csv and class.html. Exit 0: "
        "every submission was graded (whatever its score); 2: a usage error.",
    )
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION", help=".py files or folders")
    grade.add_argument(
        "--function", default="gradients", help="the function to grade (default gradients)"
    )
    grade.add_argument(
        "--out",
        default=DEFAULT_GRADES_OUT,
        metavar="DIR",
        help=f"directory to write into (default ./{DEFAULT_GRADES_OUT})",
    )
    grade.add_argument(
        "--rubric", metavar="FILE", help="a TOML file whose [points] table sets the points"
    )
    grade.add_argument(
        "--jobs", type=positive, default=1, metavar="N", help="submissions graded at once"
    )
    grade.add_argument(
        "--time-limit",
        type=seconds,
        default=DEFAULT_SECONDS,
        metavar="S",
        help=f"seconds (wall clock and CPU) one submission may take (default {DEFAULT_SECONDS:g})",
    )
    grade.add_argument(
        "--memory-limit",
        type=whole(256, "must be at least 256 (JAX itself needs about 200 MB)"),
        default=DEFAULT_MEGABYTES,
        metavar="MB",
        help=f"megabytes of data memory one submission may use (default {DEFAULT_MEGABYTES})",
    )
    grade.add_argument(
        "--seed", type=seed_number, default=0, metavar="S", help="seed of the draws (default 0)"
    )
    grade.add_argument("--quiet", action="store_true", help="no line per submission")
    scope_options(grade)
    grade.set_defaults(run=_grade)


def _bench_command(commands: Any) -> None:
    bench = commands.add_parser(
        "bench",
        help="time the harness, the finite differences and the jitted gradient, as ratios",
        description="Speed measured side by side in one run: the check harness's marginal rate, "
        "finite differences against a plain per-entry loop (and torch's gradcheck where torch is "
        "installed), the directional mode against "
        "jax.test_util.check_grads, jitted manual.gradients against jitted jax.grad.",
    )
    bench.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    bench.set_defaults(run=_bench)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 agree, 1 disagree, 2 usage error)."""
    args = _parser().parse_args(argv)
    use_compilation_cache()
    try:
        return args.run(args)
    except UsageError as exc:  # bad MODULE:FUNCTION, an unwritable path: one line, exit 2
        return _usage(str(exc))
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as other tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
