"""Three witnesses, no shared math: the packages' imports and calls are checked from source."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DIFFERENTIATION = {
    "grad",
    "value_and_grad",
    "vjp",
    "jvp",
    "jacfwd",
    "jacrev",
    "hessian",
    "linearize",
    "custom_jvp",
    "custom_vjp",
}


def sources(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sources("reference"), ids=lambda p: p.name)
def test_reference_never_imports_manual(path):
    assert not {m for m in imported_modules(path) if m == "manual" or m.startswith("manual.")}


@pytest.mark.parametrize("path", sources("manual"), ids=lambda p: p.name)
def test_manual_never_differentiates_with_jax(path):
    tree = ast.parse(path.read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not used & DIFFERENTIATION
    shared = {m for m in imported_modules(path) if m.startswith("reference")}
    assert shared <= {"reference.spec"}, "manual may share only the contract's Spec with reference"


def test_the_checks_above_see_a_violation():
    # a test that cannot fail proves nothing: feed the checks a source that breaks both rules
    bad = ROOT / "manual" / "_probe_violation.py"
    try:
        bad.write_text("import jax\nfrom manual import gradients\njax.grad(len)\n")
        assert imported_modules(bad) >= {"jax", "manual"}
        with pytest.raises(AssertionError):
            test_manual_never_differentiates_with_jax(bad)
        with pytest.raises(AssertionError):
            test_reference_never_imports_manual(bad)
    finally:
        bad.unlink()


def test_importing_the_packages_leaves_jax_in_float32():
    code = (
        "import manual, reference, reference.autodiff, reference.fd, reference.verify\n"
        "import numpy as np, jax.numpy as jnp\n"
        "from reference import Spec, autodiff_gradients\n"
        "s = Spec((2, 1), ('tanh',), 'square')\n"
        "p = [(np.ones((2, 1)), np.zeros(1))]\n"
        "g = autodiff_gradients(p, np.ones((3, 2)), np.zeros((3, 1)), s)\n"
        "assert g[0][0].dtype == np.float64, g[0][0].dtype\n"
        "print(jnp.ones(1).dtype)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "float32"
