"""The project's layers, read from its imports: each module imports only from its own layer or
the layers below, and never another module's private (``_``) names.

    contract (reference.spec, reference.exercises)
      <- manual/                       (nothing else: it is an independent witness)
      <- witnesses (reference.network <- reference.autodiff, reference.fd; not each other)
      <- judgement (tolerance, compare, verify, diagnose, directional)
      <- harness (strategies, minimize, scope, harness)
      <- faces (the pytest plugin, reports/), which alone may import manual/ as a default
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import manual

ROOT = pathlib.Path(__file__).resolve().parent.parent

LAYERS = {
    "contract": {"reference.spec", "reference.exercises"},
    "manual": "manual",
    "network": {"reference.network", "reference.witness_cache"},
    "witnesses": {
        "reference.autodiff",
        "reference.fd",
        "reference.fd_batched",
        "reference.fd_compiled",
        "reference.fd_rounding",
        "reference.fd_stencil",
    },
    "judgement": {
        "reference.calling",
        "reference.tolerance",
        "reference.compare",
        "reference.verify",
        "reference.consistency",
        "reference.mistakes",
        "reference.diagnose",
        "reference.non_finite",
        "reference.directional",
    },
    "harness": {
        "reference.strategies",
        "reference.minimize",
        "reference.scope",
        "reference.conventions",
        "reference.draws",
        "reference.running",
        "reference.account",
        "reference.harness",
        "reference.rubric_items",
        "reference.rubric",
    },
    "faces": {"reference", "reference.pytest_plugin", "reference.pytest_checks", "reports"},
}

#: What each layer may import, besides itself (witnesses: not each other).
ALLOWED = {
    "contract": set(),
    "manual": {"contract"},
    "network": {"contract"},
    "witnesses": {"contract", "network"},
    "judgement": {"contract", "network", "witnesses"},
    "harness": {"contract", "network", "witnesses", "judgement"},
    "faces": {"contract", "manual", "network", "witnesses", "judgement", "harness"},
}


def layer_of(module: str) -> str | None:
    for layer, members in LAYERS.items():
        if isinstance(members, str):
            if module == members or module.startswith(members + "."):
                return layer
        elif module in members or any(
            module.startswith(m + ".") for m in members if m == "reports"
        ):
            return layer
    return None


def _witness(module: str) -> str:
    return module.split("_")[0]  # reference.fd_compiled -> reference.fd


def modules() -> list[tuple[str, pathlib.Path]]:
    found = []
    for package in ("manual", "reference", "reports"):
        for path in sorted((ROOT / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found.append((name, path))
    return found


def project_imports(path: pathlib.Path) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every import of a project module in ``path``, nested ones too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in ("manual", "reference", "reports"):
                found.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("manual", "reference", "reports"):
                    found.append((alias.name, [], node.lineno))
    return found


def test_every_module_has_a_layer():
    assert [name for name, _ in modules() if layer_of(name) is None] == []


@pytest.mark.parametrize(("name", "path"), modules(), ids=[name for name, _ in modules()])
def test_imports_follow_the_layers_and_leave_private_names_alone(name, path):
    own = layer_of(name)
    for module, names, line in project_imports(path):
        where = f"{path.relative_to(ROOT)}:{line} imports {module}"
        imported = layer_of(module)
        if module == name.split(".")[0] and own == "manual":
            imported = "manual"  # manual's own package
        # one witness's modules may import each other (fd and fd_compiled), not another's
        same = imported == own and (own != "witnesses" or _witness(module) == _witness(name))
        assert same or imported in ALLOWED[own], f"{where}: {own} may not import {imported}"
        if module != name:
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert private == [], f"{where}: private names {private}"


def test_the_rules_catch_a_wrong_way_import(tmp_path):
    # the checks above are not vacuous: a witness importing another, a private name
    bad = tmp_path / "bad.py"
    bad.write_text("from reference.autodiff import _bucket\nimport reports.report\n")
    imports = project_imports(bad)
    assert [(m, n) for m, n, _ in imports] == [
        ("reference.autodiff", ["_bucket"]),
        ("reports.report", []),
    ]
    assert layer_of("reference.fd") == layer_of("reference.autodiff") == "witnesses"
    assert "faces" not in ALLOWED["judgement"]


# --- sizes ---------------------------------------------------------------------------------------

#: A module's lines, and a function's body without its docstring.
MODULE_LINES, FUNCTION_LINES = 400, 60

#: What is still longer (the modules and functions the next steps split); strict both ways: a
#: module or function not listed may not grow past the limit, and a listed one that no longer
#: exceeds it must leave the list.
STILL_LONG: set[str] = set()


def code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The lines of a function's body, its docstring left out."""
    body = function.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return function.end_lineno - body[0].lineno + 1


def long_parts() -> set[str]:
    found = set()
    for _, path in modules():
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT).as_posix()
        if len(source.splitlines()) > MODULE_LINES:
            found.add(where)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                code_lines(node) > FUNCTION_LINES
            ):
                found.add(f"{where}::{node.name}")
    return found


def test_no_module_or_function_grows_past_its_size():
    assert long_parts() - STILL_LONG == set()


def test_the_list_of_long_parts_only_shrinks():
    assert STILL_LONG - long_parts() == set()


def test_one_verify_call_validates_its_case_once(monkeypatch):
    import numpy as np

    import reference.autodiff
    import reference.fd
    import reference.verify
    from reference import Spec

    calls = []
    for module in (reference.verify, reference.autodiff, reference.fd):
        original = module.check_arrays

        def counted(*args, original=original, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, "check_arrays", counted)
    spec = Spec((2, 3, 1), ("tanh", "identity"), "square")
    params = [(np.ones((2, 3)), np.zeros(3)), (np.ones((3, 1)), np.zeros(1))]
    result = reference.verify.verify(
        manual.gradients, params, np.ones((4, 2)), np.zeros((4, 1)), spec
    )
    assert result.ok
    assert len(calls) == 1
