"""Every usage error of the command line, in one table: exit 2, one line on stderr that names
the problem, and no traceback. (Errors that need files of their own, a module that fails to
import or an implementation that declines every case, are tested beside their commands.)"""

from __future__ import annotations

import pytest

from reports.cli import main

#: (the arguments, words the one line must contain)
USAGE_ERRORS = [
    # check: the implementation
    (["check", "no_colon_here"], "expected MODULE:FUNCTION"),
    (["check", "not a module:f"], "expected MODULE:FUNCTION"),
    (["check", "surely_absent_module_xyz:gradients"], "no module named 'surely_absent_module_xyz'"),
    (["check", "mutants:no_such_function"], "has no attribute 'no_such_function'"),
    (["check", "mutants:BUGS"], "is a dict, not a function"),
    # check: its options
    (["check", "mutants:bias_mean", "--examples", "0"], "must be at least 1"),
    (["check", "mutants:bias_mean", "--examples", "many"], "expected a whole number"),
    (["check", "mutants:bias_mean", "--seed", "-4"], "must not be negative"),
    (["check", "mutants:bias_mean", "--dtype", "float16"], "invalid choice"),
    (["check", "mutants:bias_mean", "--time-limit", "-1"], "not negative"),
    (["check", "mutants:bias_mean", "--time-limit", "soon"], "expected a number of seconds"),
    (["check", "mutants:bias_mean", "--json", "/no/such/dir/v.json"], "cannot write the JSON"),
    (["check", "mutants:bias_mean", "--frobnicate"], "unrecognized arguments"),
    # scope and conventions (the same parser for check and report)
    (["check", "variants:reordered", "--depth", "3-2"], "--depth 3-2 is empty"),
    (["check", "variants:reordered", "--width", "0"], "--width must be at least 1"),
    (["check", "variants:reordered", "--batch", "two"], "--batch must be a number or a range"),
    (["check", "variants:reordered", "--activations", "relu,swish"], "unknown activation 'swish'"),
    (["check", "variants:reordered", "--losses", ","], "--losses names nothing"),
    (["check", "variants:reordered", "--layout", "diagonal"], "--layout must be one of in-out"),
    (["check", "variants:reordered", "--loss-scale", "-1"], "--loss-scale must be a positive"),
    (
        ["check", "variants:reordered", "--params", "vector", "--bias", "column"],
        "--params vector has no matrices",
    ),
    # report
    (["report", "--quiet", "--impl", "no_such_module_here:f"], "no module named"),
    (["report", "--quiet", "--impl", "reference"], "MODULE:FUNCTION"),
    (["report", "--quiet", "--examples", "0"], "must be at least 1"),
    (["report", "--quiet", "--seed", "-1"], "must not be negative"),
    # trace
    (["trace", "--x", "[1]"], "--x needs --weights"),
    (["trace", "--weights", "[[[1]]]"], "--weights needs --x"),
    (["trace", "--weights", "[[1, 2", "--x", "[1]"], "--weights is not valid JSON"),
    (["trace", "--weights", "[[[1, 2], [3]]]", "--x", "[1, 2]"], "rectangular lists of numbers"),
    (["trace", "--weights", "[[[1, 2]], [[1], [2], [3]]]", "--x", "[1]"], "W^(2) has 3 rows"),
    (["trace", "--weights", "[[[1]]]", "--x", "[1, 2]"], "--x must be a list of 1 numbers"),
    (
        ["trace", "--weights", "[[[1]]]", "--x", "[1]", "--activations", "swish"],
        "unknown activation",
    ),
    (["trace", "--weights", "[[[1]]]", "--x", "[1]", "--loss", "hinge"], "unknown loss"),
    (["trace", "--weights", "[[[1]]]", "--x", "[1]", "--biases", "[[1, 2]]"], "--biases must be"),
    # grade
    (["grade", "no/such/submission.py"], "no submission at 'no/such/submission.py'"),
    (["grade", "mutants.py", "--memory-limit", "100"], "--memory-limit: must be at least 256"),
    (["grade", "mutants.py", "--time-limit", "0"], "--time-limit must be more than 0 seconds"),
    (["grade", "mutants.py", "--rubric", "no-such-rubric.toml"], "cannot read the rubric"),
    (["grade", "mutants.py", "--rubric", "pyproject_bad.toml"], "is no item"),
    # the command itself
    (["frobnicate"], "invalid choice"),
]


def status_of(args: list[str]) -> int:
    """The exit status of ``backprop-verify ARGS``, whether argparse exits or main returns."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize(("args", "words"), USAGE_ERRORS, ids=" ".join)
def test_a_usage_error_exits_2_with_one_line(args, words, in_tests, capsys, tmp_path):
    if args[0] in ("report", "grade"):
        args = [*args, "--out", str(tmp_path)]
    if "pyproject_bad.toml" in args:  # a rubric that names no item of the rubric
        rubric = tmp_path / "rubric.toml"
        rubric.write_text('[points]\n"formula-5" = 3\n')
        args = [str(rubric) if a == "pyproject_bad.toml" else a for a in args]
    code = status_of(args)
    out, err = capsys.readouterr()
    assert code == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out
