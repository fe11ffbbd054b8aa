"""The README's Python examples run as they are written, with ``my_gradients`` a correct
implementation in the conventions each example declares."""

from __future__ import annotations

import pathlib
import re

import pytest

import manual

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def out_in(params, X, Y, spec):
    """manual.gradients for W given and returned as (n_l, n_{l-1}), as PyTorch keeps it."""
    grads = manual.gradients([(W.T, b) for W, b in params], X, Y, spec)
    return [(dW.T, db) for dW, db in grads]


def test_the_readme_has_its_examples():
    assert len(examples()) >= 3


@pytest.mark.parametrize("index", range(len(examples())))
def test_each_python_example_of_the_readme_runs(index, capsys):
    code = examples()[index]
    mine = out_in if 'layout="out-in"' in code else manual.gradients
    namespace = {"my_gradients": mine, "__name__": "readme_example"}
    exec(compile(code, f"README.md example {index + 1}", "exec"), namespace)
    for name, value in namespace.items():  # an example that defines a test: run it
        if name.startswith("test_") and callable(value):
            value()
    printed = capsys.readouterr().out
    if "print(result.ok" in code:
        assert printed.startswith("True")  # the verdict on a correct implementation
    if "found.render()" in code:
        assert "PASS" in printed
