"""The account of a check in words: the text ``backprop-verify check`` prints, the per-layer
table of a counterexample, its wrong (layer, parameter) pairs, and the snippet that reproduces
it. ``CheckResult.render`` and ``CheckResult.snippet`` are these."""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.diagnose import number_pair
from reference.spec import lecture_name as lecture_index
from reference.verify import KIND_WORDS, Entry, ThreeWay

__all__ = ["error_text", "failure_lines", "mismatches", "render", "snippet", "table", "table_rows"]


def snippet(found: Any) -> str:
    """Ready-to-run Python that rebuilds the counterexample and shows the failure."""
    if found.case is None or found.result is None:
        return ""
    module, _, function = found.implementation.partition(":")
    lines = [found.case.snippet()]
    if not (function and module.replace(".", "").isidentifier()):
        return "\n".join([*lines, "# (the implementation has no MODULE:FUNCTION name)"])
    name = function.split(".")[0]
    lines.append(f"from {module} import {name}")
    conventions = found.conventions
    if conventions.default:
        lines += [
            "",
            "",
            "def call():  # on fresh copies, as the harness calls it",
            f"    return {function}([(W.copy(), b.copy()) for W, b in params], X.copy(), "
            "Y.copy(), spec)",
        ]
    else:
        lines += [
            "from reference.scope import Conventions",
            "",
            f"conventions = Conventions(**{conventions.changed()!r})  # {conventions.flags()}",
            "",
            "",
            "def call():  # in the implementation's conventions, as the harness calls it",
            *(f"    {line}" for line in conventions.argument_code(found.case.spec)),
            f"    got = {function}(*args)",
            "    return conventions.to_lecture(got, spec, len(X))  # back in lecture terms",
        ]
    return "\n".join([*lines, "", "", *reproduction(found.result)])


def render(found: Any) -> str:
    """The report for a terminal: verdict, counterexample, diagnosis, table, snippet."""
    head = (
        f"backprop-verify check {found.implementation}: {found.examples} random case"
        f"{'s' if found.examples != 1 else ''}{'' if found.ok else ' run'}, seed {found.seed}, "
        f"{found.dtype}"
    )
    if found.precision != "standard":
        head += f", precision {found.precision}"
    if not found.conventions.default:
        head += f", {found.conventions.flags()}"
    if found.skipped:
        head += (
            f"; {found.skipped} more declined by the implementation (NotImplementedError: "
            f"outside its scope) and skipped"
        )
    if found.ok:
        return f"{head}\nPASS: the implementation agrees with jax.grad and finite differences."
    return "\n".join([head, *failure_lines(found)])


def error_text(result: ThreeWay) -> str | None:
    """What the implementation raised or returned wrongly, in words; for wrong values, the
    whole-result problems (a float32 result, ...) if any."""
    if result.error is not None:
        return result.error
    problems = result.vs_autodiff.problems if result.vs_autodiff is not None else []
    return " ".join(problems) or None


def reproduction(result: ThreeWay) -> list[str]:
    """The snippet's last lines: the call that shows the failure of ``result.kind``."""
    kind = result.kind
    if kind in ("timeout", "raised"):
        return [f"call()  # {result.error}"]
    if kind == "bad_structure":
        return ["got = call()", f"print(got)  # {result.error}"]
    if kind == "nondeterministic":
        lines = ["first, second = call(), call()  # the same inputs twice"]
        where = result.repeat
        if where is None:
            return [*lines, f"# {result.error}"]
        at = subscript(where)
        return [*lines, f"print({where.name!r}, first{at}, 'then', second{at})"]
    lines = [
        "from reference import autodiff_gradients",
        "",
        "got, want = call(), autodiff_gradients(params, X, Y, spec)  # want: jax.grad",
    ]
    where = worst_entry(result)
    if where is not None:
        at = subscript(where)
        lines.append(f"print({where.name!r}, got{at}, 'instead of', want{at})")
    return lines


def subscript(entry: Any) -> str:
    index = ", ".join(str(i) for i in entry.index)
    return f"[{entry.layer - 1}][{'Wb'.index(entry.param)}][{index}]"


def worst_entry(result: ThreeWay) -> Entry | None:
    """The entry a snippet shows: the first non-finite one, else the worst mismatch against
    jax.grad (which the snippet compares with), one the finite differences confirm and the
    highest layer first."""
    if result.non_finite:
        return result.non_finite[0]
    if result.candidate is None or result.vs_autodiff is None:
        return None
    wrong = result.vs_autodiff.mismatches or (result.vs_fd.mismatches if result.vs_fd else [])
    if not wrong:
        return None
    fd_wrong = {(p.layer, p.param) for p in result.vs_fd.mismatches} if result.vs_fd else set()
    top = max(wrong, key=lambda p: ((p.layer, p.param) in fd_wrong, p.layer))
    return Entry(
        top.layer, top.param, top.worst_entry, top.shape, top.candidate_value, top.witness_value
    )


def mismatches(result: ThreeWay) -> list[dict[str, Any]]:
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for comparison in (result.vs_autodiff, result.vs_fd):
        if comparison is None:
            continue
        for p in comparison.mismatches:
            key = (p.layer, p.param)
            if key in found:
                found[key]["witnesses"].append(comparison.witness)
                continue
            found[key] = {
                "layer": p.layer,
                "param": p.param,
                "max_abs_error": p.max_abs_error,
                "max_rel_error": p.max_rel_error,
                "entries": len(p.bad_entries),
                "of": int(np.prod(p.shape)) if p.shape else 0,
                "worst_entry": lecture_index(p.param, p.layer, p.worst_entry, p.shape),
                "implementation": p.candidate_value,
                "witness_value": p.witness_value,
                "tolerance": p.tolerance,
                "witnesses": [comparison.witness],
            }
    return [found[key] for key in sorted(found)]


def fd_cell(result: ThreeWay, layer: int, k: int, entry: tuple[int, ...]) -> str:
    fd = result.fd
    if not fd.sampled[layer - 1][k][entry]:
        return "not sampled"
    if fd.unresolved[layer - 1][k][entry]:
        return "unjudged"
    if fd.kink[layer - 1][k][entry]:
        low, high = fd.lower[layer - 1][k][entry], fd.upper[layer - 1][k][entry]
        return f"[{low:.6g}, {high:.6g}]"
    return f"{fd.gradients[layer - 1][k][entry]:.10g}"


def table_rows(result: ThreeWay) -> list[tuple[str, ...]]:
    """Per layer and parameter (last layer first), the entry furthest from jax.grad:
    implementation, jax.grad, finite differences and the verdict, as text; a header row first."""
    rows = [("layer", "param", "entry", "implementation", "jax.grad", "finite diff.", "verdict")]
    wrong = {(item["layer"], item["param"]) for item in mismatches(result)}
    non_finite: dict[tuple[int, str], int] = {}
    for e in result.non_finite:
        non_finite[e.layer, e.param] = non_finite.get((e.layer, e.param), 0) + 1
    for layer in range(result.spec.depth, 0, -1):
        for k, param in enumerate("Wb"):
            reference = result.reference.grads[layer - 1][k]
            if reference.size == 0:
                continue
            entry: tuple[int, ...] = (0,) * reference.ndim
            candidate = "—"
            if result.candidate is not None:
                values = result.candidate[layer - 1][k]
                with np.errstate(invalid="ignore"):
                    gap = np.abs(values - reference)
                gap = np.where(np.isnan(gap), np.inf, gap)
                entry = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape))
                candidate, witness = number_pair(values[entry], reference[entry])
            else:
                witness = f"{reference[entry]:.10g}"
            if result.candidate is None:
                verdict = "—"
            elif (layer, param) in non_finite:
                verdict = f"NON-FINITE ({non_finite[layer, param]})"
            else:
                verdict = "WRONG" if (layer, param) in wrong else "ok"
            rows.append(
                (
                    str(layer),
                    param,
                    lecture_index(param, layer, entry, reference.shape),
                    candidate,
                    witness,
                    fd_cell(result, layer, k, entry),
                    verdict,
                )
            )
    return rows


def table(result: ThreeWay) -> list[str]:
    """``table_rows`` as aligned lines of text."""
    rows = table_rows(result)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]


def failure_lines(found: Any) -> list[str]:
    assert found.case is not None
    assert found.result is not None
    result, spec = found.result, found.case.spec
    lines = [f"FAIL: {KIND_WORDS[result.kind]}"]
    if result.kind == "timeout":
        lines.append(f"at case {found.failed_at} (not shrunk: every try takes the time limit):")
    else:
        lines.append(
            f"at case {found.failed_at}; shrunk in {found.shrink_examples} more cases to the "
            f"smallest case that still fails the same way:"
        )
    lines.append(
        f"  widths {spec.widths}, activations {spec.activations}, loss {spec.loss!r}, "
        f"n = {found.case.X.shape[0]}"
    )
    error = error_text(result)
    if error is not None:  # "raised ...", "returned ...", or a sentence of its own
        verb = error.split(" ", 1)[0] in ("raised", "returned", "did")
        lines.append(f"  the implementation {error}" if verb else f"  {error}")
    for item in found.mismatches():
        got, want = number_pair(item["implementation"], item["witness_value"])
        lines.append(
            f"  layer {item['layer']}, {item['param']}: {item['entries']} of {item['of']} entries "
            f"wrong (against {' and '.join(item['witnesses'])}); worst {item['worst_entry']}: "
            f"{got} instead of {want}"
        )
    if found.diagnosis is not None and found.diagnosis.summary:
        lines.append("Diagnosis:")
        lines += [f"  {line}" for line in found.diagnosis.lines()]
    if not result.autodiff_vs_fd.ok:
        lines.append("  (jax.grad and finite differences disagree with each other here)")
    if result.kind in ("wrong_values", "non_finite"):
        lines.append("Per layer, the entry furthest from jax.grad:")
        lines += [f"  {row}" for row in table(result)]
    lines.append("Reproduce it:")
    lines += [f"    {row}" if row else "" for row in found.snippet().splitlines()]
    return lines
