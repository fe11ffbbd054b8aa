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


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
