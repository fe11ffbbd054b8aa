"""The console script, as a user runs it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from reports.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    command = shutil.which("backprop-verify")
    prefix = [command] if command else [sys.executable, "-m", "reports.cli"]
    return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=300)


def test_trace_works_exercise_2_through():
    result = run("trace")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "z^(1)_2    = -5" in out
    assert re.search(r"∂H/∂W\^\(2\)_12 +-12 +-12 +-12 ", out)
    assert "Verdict: all three witnesses agree on 25 quantities." in out
    assert out.index("∂H/∂a^(3)_1") < out.index("∂H/∂a^(1)_1")  # backwards, last layer first
    assert "Traceback" not in result.stderr


def test_trace_works_exercise_1_through():
    result = run("trace", "--exercise", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "-20 < 0" in out
    assert "Answer: ∂H/∂W^(1)_11 = 0." in out
    assert out.count(" 0         0             0") == 3  # three completions, three witnesses
    assert "Verdict: all three witnesses agree" in out


def test_trace_of_a_network_given_on_the_command_line(capsys):
    # exercise 2 again, typed in: the same 25 quantities, the same verdict
    weights = "[[[2, -3], [2, 1]], [[2, 1], [0, 1]], [[3], [-2]]]"
    assert main(["trace", "--weights", weights, "--x", "[2, 1]"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"∂H/∂W\^\(2\)_12 +-12 +-12 +-12 ", out)
    assert "Verdict: all three witnesses agree on 25 quantities." in out
    # a sigmoid output and square loss with a target: still three witnesses in agreement
    assert (
        main(
            [
                *("trace", "--weights", "[[[0.5, -1]], [[2], [1]]]", "--x", "[3]"),
                *("--activations", "tanh,sigmoid", "--loss", "square", "--y", "[1]"),
                *("--biases", "[[0.1, 0.2], [-0.3]]"),
            ]
        )
        == 0
    )
    assert "widths (1, 2, 1), activations ('tanh', 'sigmoid'), loss 'square'" in (
        capsys.readouterr().out
    )


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
