"""Scope and conventions (CONTRACT section 5): an implementation checked as it is written.

Each implementation of ``tests/conventions.py`` passes with its flags alone and its planted
mistake is caught and located in lecture terms, through the Python API, the command line, the
pytest plugin and a pyproject.toml table; no case outside a declared scope ever reaches an
implementation, shrinking included.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import conventions
import numpy as np
import pytest

import manual
from reference.harness import UsageError, check
from reference.scope import Conventions, Scope, options
from reference.strategies import Case
from reports.cli import main

TESTS = pathlib.Path(__file__).resolve().parent

#: The wrong (layer, param) pairs each planted mistake shows on its shrunk case, in lecture
#: numbering (worked out from the mistake: see each ``*_bug``'s docstring).
WRONG = {
    "pytorch_style": {(1, "b")},  # the bias gradient averaged: the top layer's b
    "network_py": {(1, "W"), (1, "b")},  # σ'(a) for σ'(z): the whole output layer
    "two_layer_net": {(1, "W")},  # dW1 / N twice: W^(1) only
    "flat_tanh": {(1, "W"), (1, "b")},  # the output g' left out: the whole output layer
}


# --- the Python API ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(conventions.FLAGS))
def test_each_convention_passes_with_its_flags_and_its_bug_is_located(name):
    keywords = conventions.keywords(conventions.FLAGS[name])
    right = check(getattr(conventions, name), examples=40, seed=1, **keywords)
    assert right.ok, right.render()
    assert right.examples == 40
    wrong = check(getattr(conventions, f"{name}_bug"), examples=40, seed=1, **keywords)
    assert wrong.kind == "wrong_values", wrong.render()
    assert {(m["layer"], m["param"]) for m in wrong.mismatches()} == WRONG[name]
    assert wrong.scope.outside(wrong.case) is None  # the counterexample is inside the scope


@pytest.mark.parametrize("name", sorted(conventions.FLAGS))
def test_without_the_flags_the_same_implementation_fails(name):
    found = check(getattr(conventions, name), examples=40, seed=1)
    assert not found.ok


def _in_user_terms(values: Conventions, averaged_bias: bool = False):
    """``manual.gradients`` taking and returning ``values``'s conventions, the conversions
    written here from the contract's section 5 and not from ``reference.scope``."""

    def implementation(user_params, X, Y, spec):
        widths = spec.widths
        if values.params == "vector":
            pairs = conventions._unflatten(user_params, widths)
        else:
            if values.params == "dict":
                listed = [
                    (user_params[f"W{i}"], user_params[f"b{i}"]) for i in range(1, spec.depth + 1)
                ]
            else:
                listed = user_params
            pairs = [(W.T if values.layout == "out-in" else W, np.ravel(b)) for W, b in listed]
        X = X.T if values.examples_as == "columns" else X
        n = X.shape[0]
        if values.labels and spec.loss == "softmax_cross_entropy":
            Y = np.eye(widths[-1])[Y]
        elif values.examples_as == "columns":
            Y = Y.T
        factor = values.loss_scale * (n if values.reduction == "sum" else 1)
        bias_factor = factor / n if averaged_bias else factor
        grads = [(dW * factor, db * bias_factor) for dW, db in manual.gradients(pairs, X, Y, spec)]
        if values.params == "vector":
            return np.concatenate([a.ravel() for pair in grads for a in pair])
        shaped = []
        for dW, db in grads:
            dW = dW.T if values.layout == "out-in" else dW
            db = {"flat": db, "column": db[:, None], "row": db[None, :]}[values.bias]
            shaped.append((dW, db))
        if values.params == "dict":
            return {
                f"{key}{i}": value
                for i, (dW, db) in enumerate(shaped, start=1)
                for key, value in (("W", dW), ("b", db))
            }
        return shaped

    return implementation


#: Every value of every convention, each in at least one combination.
COMBINATIONS = [
    Conventions(layout="out-in", examples_as="columns", bias="column", reduction="sum"),
    Conventions(bias="row", params="dict", labels=True, loss_scale=0.5),
    Conventions(params="vector", examples_as="columns", reduction="sum", loss_scale=3.0),
    Conventions(layout="out-in", params="dict", bias="column", labels=True),
    Conventions(examples_as="columns", labels=True, reduction="sum", loss_scale=0.5),
]


@pytest.mark.parametrize("values", COMBINATIONS, ids=lambda c: c.flags())
def test_every_combination_of_conventions_round_trips(values):
    found = check(_in_user_terms(values), examples=30, seed=2, **values.changed())
    assert found.ok, found.render()
    found = check(
        _in_user_terms(values, averaged_bias=True), examples=30, seed=2, **values.changed()
    )
    assert found.kind == "wrong_values"
    assert {m["param"] for m in found.mismatches()} == {"b"}


def test_a_shape_in_the_other_layout_is_named_in_the_users_terms():
    def stored_in_out(layers, X, Y, spec):  # takes out-in, returns in-out
        return [(dW.T, db) for dW, db in conventions.pytorch_style(layers, X, Y, spec)]

    found = check(stored_in_out, examples=5, seed=0, layout="out-in")
    assert found.kind == "bad_structure"
    widths = found.case.spec.widths
    shape, want = (widths[0], widths[1]), (widths[1], widths[0])
    assert (
        f"your dW^(1) has shape {shape}; with --layout out-in it should be {want} "
        f"(the transpose: is it --layout in-out?)." in found.render()
    )


def test_a_transposed_shape_in_the_default_conventions_suggests_the_flag():
    def transposed(params, X, Y, spec):
        return [(dW.T, db) for dW, db in manual.gradients(params, X, Y, spec)]

    found = check(transposed, examples=5, seed=4, depth=1, inputs=2, outputs=3)
    assert "layer 1: dW has shape (3, 2), expected (2, 3) (the transpose" in found.render()
    assert "--layout out-in" in found.render()


def test_the_snippet_calls_the_implementation_in_its_own_conventions(in_tests, capsys):
    found = check(
        conventions.network_py_bug,
        examples=20,
        name="conventions:network_py_bug",
        **conventions.keywords(conventions.FLAGS["network_py"]),
    )
    snippet = found.snippet()
    assert "X.T.copy()" in snippet
    assert "b.reshape(-1, 1)" in snippet
    assert "W.T" in snippet
    exec(compile(snippet, "snippet", "exec"), {})
    printed = capsys.readouterr().out
    assert "instead of" in printed


# --- the scope ------------------------------------------------------------------------------------

SCOPES = [
    {"activations": "tanh,sigmoid", "output_activations": "sigmoid", "losses": "logistic"},
    {"depth": "2-3", "width": "2-4", "inputs": 3, "outputs": "1-2", "batch": "2-5"},
    {"values": "moderate", "targets": "one-hot", "losses": ["softmax_cross_entropy", "logistic"]},
    {"labels": True, "depth": 1, "losses": "softmax_cross_entropy", "activations": "identity"},
]


@pytest.mark.parametrize("given", SCOPES)
def test_every_case_drawn_lies_inside_the_scope(given):
    scope, _ = options(**given)
    for i in range(300):
        case = scope.draw(np.random.default_rng([5, i]))
        assert scope.outside(case) is None


def test_the_default_scope_draws_the_default_cases():
    from reference.harness import case_stream
    from reference.strategies import random_case

    for i, case in zip(range(50), case_stream(9, Scope()), strict=False):
        again = random_case(np.random.default_rng([9, i]))
        assert case.spec == again.spec
        assert np.array_equal(case.X, again.X)


NARROW = {
    "activations": "tanh,relu",
    "output_activations": "sigmoid,identity",
    "losses": "logistic,square",
    "depth": "2-3",
    "width": "2-5",
    "inputs": "2-3",
    "outputs": 2,
    "batch": "2-6",
    "values": "moderate",
    "targets": "one-hot",
}


def test_no_case_outside_the_scope_reaches_the_implementation_while_shrinking_included():
    scope, _ = options(**NARROW)
    seen = []

    def guarded(params, X, Y, spec):
        case = Case(spec, [tuple(np.asarray(a) for a in pair) for pair in params], X, Y)
        outside = scope.outside(case)
        seen.append(outside)
        if outside is not None:
            raise RuntimeError(f"outside my scope: {outside}")
        grads = manual.gradients(params, X, Y, spec)
        return [(dW, db / len(X)) for dW, db in grads]  # the bias gradient averaged

    found = check(guarded, examples=50, seed=3, **NARROW)
    assert found.kind == "wrong_values", found.render()
    assert found.shrink_examples > 0
    assert seen
    assert all(outside is None for outside in seen)
    assert scope.outside(found.case) is None
    assert found.case.spec.depth == 2  # shrunk as far as the scope allows, no further


def test_declined_cases_are_skipped_and_counted(tmp_path):
    def tanh_only(params, X, Y, spec):
        if set(spec.activations) != {"tanh"}:
            raise NotImplementedError("tanh only")
        return manual.gradients(params, X, Y, spec)

    found = check(tanh_only, examples=5, seed=0, depth="1-2")
    assert found.ok
    assert found.examples == 5
    assert found.skipped > 0
    assert f"{found.skipped} more declined by the implementation" in found.render()
    assert found.as_json()["skipped"] == found.skipped


def test_a_declined_shrinking_candidate_stays_out_of_the_counterexample():
    def no_identity(params, X, Y, spec):
        if "identity" in spec.activations or spec.loss == "output":
            raise NotImplementedError
        return [(dW, db / len(X)) for dW, db in manual.gradients(params, X, Y, spec)]

    found = check(no_identity, examples=50, seed=0)
    assert found.kind == "wrong_values"
    assert "identity" not in found.case.spec.activations
    assert found.case.spec.loss != "output"


def test_an_implementation_that_declines_everything_is_a_usage_error(in_tests, capsys):
    with pytest.raises(UsageError, match="declined all 200 cases"):
        check(lambda *args: (_ for _ in ()).throw(NotImplementedError), examples=3)
    (TESTS / "_declines.py").write_text("def gradients(*a):\n    raise NotImplementedError\n")
    try:
        code = main(["check", "_declines:gradients", "--examples", "2"])
    finally:
        (TESTS / "_declines.py").unlink()
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "declined all 200 cases" in err


# --- the command line, pyproject.toml and the plugin ----------------------------------------------


@pytest.mark.parametrize("name", sorted(conventions.FLAGS))
def test_the_command_line_takes_the_flags(in_tests, capsys, tmp_path, name):
    flags = conventions.FLAGS[name]
    report = tmp_path / "verdict.json"
    assert main(["check", f"conventions:{name}", "--examples", "30", *flags]) == 0
    code = main(["check", f"conventions:{name}_bug", *flags, "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 1
    data = json.loads(report.read_text())
    wrong = {(m["layer"], m["param"]) for m in data["counterexample"]["mismatches"]}
    assert wrong == WRONG[name]
    assert data["conventions"] == options(**conventions.keywords(flags))[1].as_dict()
    assert f"layer {min(WRONG[name])[0]}, {min(WRONG[name])[1]}:" in out


def _table(flags: list[str]) -> str:
    """``flags`` as a [tool.backprop-verify] table."""
    lines = ["[tool.backprop-verify]"]
    for key, value in conventions.keywords(flags).items():
        key = key.replace("_", "-")
        if value is True:
            lines.append(f"{key} = true")
        elif key in ("activations", "output-activations", "losses"):
            lines.append(f"{key} = {json.dumps(value.split(','))}")
        elif key == "loss-scale":
            lines.append(f"{key} = {value}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def test_pyproject_sets_scope_and_conventions_and_flags_win(monkeypatch, capsys, tmp_path):
    shutil.copy(TESTS / "conventions.py", tmp_path / "nielsen.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "nielsen:network_py", "--examples", "10"]) == 1  # no table yet
    (tmp_path / "pyproject.toml").write_text(_table(conventions.FLAGS["network_py"]))
    assert main(["check", "nielsen:network_py", "--examples", "30"]) == 0
    assert main(["check", "nielsen:network_py_bug", "--examples", "30"]) == 1
    assert main(["check", "nielsen:network_py", "--examples", "10", "--layout", "in-out"]) == 1
    (tmp_path / "pyproject.toml").write_text("[tool.backprop-verify]\nlayuot = 'out-in'\n")
    capsys.readouterr()
    assert main(["check", "nielsen:network_py"]) == 2
    assert "unknown key 'layuot'" in capsys.readouterr().err


@pytest.fixture
def nielsen(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(nielsen=(TESTS / "conventions.py").read_text())
    return pytester


def _plugin(pytester, *args):
    return pytester.runpytest_subprocess(
        *args, "--hypothesis-profile", "backprop-ci", "-p", "no:cacheprovider"
    )


@pytest.mark.parametrize("name", sorted(conventions.FLAGS))
def test_the_plugin_takes_the_flags(nielsen, name):
    flags = [
        "--backprop-" + flag[2:] if flag.startswith("--") else flag
        for flag in conventions.FLAGS[name]
    ]
    exercise_2 = name == "pytorch_style"  # the only scope that holds relu, relu, identity
    result = _plugin(nielsen, "--backprop-impl", f"nielsen:{name}", *flags)
    result.assert_outcomes(passed=1 + exercise_2, skipped=int(not exercise_2))
    result = _plugin(nielsen, "--backprop-impl", f"nielsen:{name}_bug", *flags, "-rs")
    # exercise 2 has one example, where an averaged bias gradient is the summed one
    result.assert_outcomes(failed=1, passed=int(exercise_2), skipped=int(not exercise_2))
    result.stdout.fnmatch_lines(["*FAIL: wrong values*"])
    if not exercise_2:
        result.stdout.fnmatch_lines(["*exercise 2 is outside the declared scope*"])


def test_the_plugin_reads_pyproject(nielsen):
    nielsen.makefile(".toml", pyproject=_table(conventions.FLAGS["two_layer_net"]))
    result = _plugin(nielsen, "--backprop-impl", "nielsen:two_layer_net")
    result.assert_outcomes(passed=1, skipped=1)
    result = _plugin(nielsen, "--backprop-impl", "nielsen:two_layer_net", "--backprop-depth", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--backprop-depth must be at least 1*"])


def test_the_report_sweeps_the_implementation_in_its_conventions(in_tests, capsys, tmp_path):
    code = main(
        [
            "report",
            "--impl",
            "conventions:pytorch_style",
            "--layout",
            "out-in",
            "--examples",
            "5",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr()
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["verdict"]["check"]["conventions"]["layout"] == "out-in"
    assert data["verdict"]["examples"] == 5
    assert main(["report", "--impl", "conventions:pytorch_style", "--layout", "sideways"]) == 2
