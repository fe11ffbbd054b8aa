"""``backprop-verify check``: exit codes, output and JSON exactly as the contract says."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from reports.cli import main

TESTS = pathlib.Path(__file__).resolve().parent


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_correct_implementation_exits_0_with_the_json(in_tests, capsys, tmp_path):
    report = tmp_path / "verdict.json"
    code, out, _ = run(capsys, "variants:reordered", "--examples", "20", "--json", str(report))
    assert code == 0
    assert "PASS" in out
    data = json.loads(report.read_text())
    assert data["verdict"] == "pass"
    assert data["examples"] == 20
    assert data["counterexample"] is None


def test_a_bug_exits_1_with_the_counterexample_in_json(in_tests, capsys, tmp_path):
    report = tmp_path / "verdict.json"
    code, out, _ = run(capsys, "mutants:bias_mean", "--seed", "3", "--json", str(report))
    assert code == 1
    assert "FAIL" in out
    assert "Diagnosis:" in out
    data = json.loads(report.read_text())
    assert data["verdict"] == "fail"
    assert 1 <= data["examples"] <= 100
    counter = data["counterexample"]
    assert counter["widths"] == [1, 1]
    assert counter["activations"] == ["identity"]
    assert isinstance(counter["loss"], str)
    assert counter["n"] == 2
    assert counter["error"] is None
    assert [(m["layer"], m["param"]) for m in counter["mismatches"]] == [(1, "b")]
    assert counter["mismatches"][0]["max_abs_error"] > 0
    assert counter["diagnosis"]["formula"] == "4"
    # the JSON carries the case itself: it rebuilds and still fails
    assert len(counter["params"]) == 1
    assert len(counter["X"]) == 2


def test_a_raising_implementation_exits_1_with_its_error(capsys, tmp_path, monkeypatch):
    (tmp_path / "homework.py").write_text(
        "def gradients(params, X, Y, spec):\n    raise RuntimeError('todo')\n"
    )
    report = tmp_path / "verdict.json"
    monkeypatch.chdir(tmp_path)  # the user's own directory
    code, out, _ = run(capsys, "homework:gradients", "--examples", "5", "--json", str(report))
    assert code == 1
    assert "raised RuntimeError: todo" in out
    data = json.loads(report.read_text())
    assert data["counterexample"]["error"] == "raised RuntimeError: todo"
    assert data["counterexample"]["mismatches"] == []


def test_the_same_seed_gives_the_same_json(in_tests, capsys, tmp_path):
    reports = [tmp_path / "one.json", tmp_path / "two.json"]
    for report in reports:
        run(capsys, "mutants:leaky_slope", "--seed", "11", "--json", str(report))
    one, two = (json.loads(report.read_text()) for report in reports)
    for data in (one, two):
        data.pop("elapsed_s")
    assert one == two


def test_a_module_that_fails_to_import_is_a_usage_error(capsys, tmp_path, monkeypatch):
    (tmp_path / "broken_homework.py").write_text("import numpy\nraise RuntimeError('half done')\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "broken_homework:gradients")
    assert code == 2
    assert "importing 'broken_homework' failed: RuntimeError: half done." in err
    assert len(err.strip().splitlines()) == 1


def test_the_installed_command(tmp_path):
    """The console script itself: a usage error and a pass, from a directory of the user's."""
    (tmp_path / "homework.py").write_text(
        "from manual import gradients as mine\n\n"
        "def gradients(params, X, Y, spec):\n    return mine(params, X, Y, spec)\n"
    )
    command = [sys.executable, "-m", "reports.cli", "check"]
    bad = subprocess.run(
        [*command, "homework"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    good = subprocess.run(
        [*command, "homework:gradients", "--examples", "5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stdout + good.stderr


def test_bench_prints_every_ratio():
    from reports.bench import run

    lines: list[str] = []
    run(quick=True, say=lines.append)
    text = "\n".join(lines)
    for words in (
        "marginal rate",
        "plain per-entry loop",
        "ratio",
        "growth with P",
        "check_grads",
        "jitted gradient",
        "matmul rate",
        "--jobs 2",
        "cold start",
        "the second time",
        "but not the jax.grad results",
    ):
        assert words in text


def test_the_accelerator_sizes_run_here_at_quick_sizes():
    # the paths a GPU machine runs, exercised on the CPU: every line measured, nothing failed
    from reports.bench_device import device_sizes

    lines: list[str] = []
    device_sizes(quick=True, say=lines.append, accelerator=True)
    text = "\n".join(lines)
    assert text.count("jitted gradient") == 2  # float64 and float32
    assert "float32 matmul rate" in text
    assert "finite differences of every entry" in text
    assert "directional check" in text
    assert "FAILED" not in text


def test_output_cut_short_by_the_reader_is_no_traceback():
    command = shutil.which("backprop-verify")
    if command is None:
        pytest.skip("the console script is not installed")
    done = subprocess.run(
        f"'{command}' check mutants:bias_mean | head -n 1",
        shell=True,
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.startswith("backprop-verify check mutants:bias_mean")
    assert "Traceback" not in done.stderr
    assert "BrokenPipeError" not in done.stderr


def test_gradcheck_is_timed_on_the_same_function_where_torch_is_installed():
    # torch is never a dependency; where it happens to be installed, the bench times gradcheck
    # on the very R the finite differences difference.
    torch = pytest.importorskip("torch")
    from reference.fd import risk_of
    from reports.bench import _gradcheck_seconds, _torch_risk
    from reports.bench_timing import mlp

    spec, params, X, Y = mlp((5, 4, 3, 1), ("tanh", "tanh", "identity"), "square", 6)
    risk, tensors = _torch_risk(params, X, Y, spec)
    assert risk(*tensors).detach().item() == pytest.approx(risk_of(params, X, Y, spec), rel=1e-14)
    assert torch.autograd.gradcheck(risk, tensors, fast_mode=False)
    assert _gradcheck_seconds(params, X, Y, spec) > 0
