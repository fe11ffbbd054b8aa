"""What the report measures about the implementation under check: the run, the lecture's
exercises with its values beside the three witnesses, the step study and the timings, and
the verdict."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from reference import Spec
from reports.sweep import concentration


def environment(name: str, examples: int, seed: int, chosen: dict[str, Any]) -> dict[str, Any]:
    versions = {}
    for package in ("jax", "jaxlib", "numpy", "hypothesis", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "versions": {"python": platform.python_version(), **versions},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "implementation": name,
        "dtype": "float64",
        "seed": seed,
        "examples": examples,
        "options": {key.replace("_", "-"): value for key, value in chosen.items()},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


# --- the implementation under check on one case ---------------------------------------------------


@dataclass(frozen=True)
class NotJudged:
    """A case the implementation was not judged on, and why (a sentence)."""

    reason: str


class Subject:
    """The implementation under check, called in its own conventions inside its scope."""

    def __init__(self, implementation: Callable, name: str, chosen: dict[str, Any]) -> None:
        from reference.scope import options

        self.name = name
        self.implementation = implementation
        self.label = "manual" if name == "manual:gradients" else name
        self.scope, conventions = options(**chosen)
        self.function = conventions.wrap(implementation)
        self.flags = flags(chosen)

    def judge(self, params: list, X: np.ndarray, Y: np.ndarray, spec: Spec) -> Any:
        """The three-way verdict on one case (a ``ThreeWay``), or ``NotJudged``."""
        from reference.harness import DEFAULT_TIME_LIMIT
        from reference.strategies import Case
        from reference.verify import verify

        outside = self.scope.outside(Case(spec, params, X, Y))
        if outside is not None:
            return NotJudged(f"outside the declared scope ({outside})")
        result = verify(self.function, params, X, Y, spec, time_limit=DEFAULT_TIME_LIMIT)
        if result.unsupported:
            return NotJudged("declined by the implementation (NotImplementedError)")
        return result

    def command(self, seed: int, case: int | None = None) -> str:
        """The command line that checks this implementation again (one case, or the run)."""
        words = ["backprop-verify check", self.name, f"--seed {seed}"]
        words += [f"--case {case}"] if case is not None else []
        return " ".join(words + ([self.flags] if self.flags else []))


def flags(chosen: dict[str, Any]) -> str:
    """The scope and conventions ``chosen`` as command-line flags."""
    words = []
    for key, value in chosen.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            words.append(flag)
        elif value is not False and value is not None:
            text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            words.append(f"{flag} {text}")
    return " ".join(words)


def why_wrong(result: Any) -> str:
    """What went wrong in a failing verdict, in words."""
    from reference.verify import KIND_WORDS

    return result.error or KIND_WORDS.get(result.kind or "", "disagrees with the witnesses")


def entry_verdicts(result: Any, layer: int, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The candidate's values of one parameter of ``result`` and which of them agree."""
    if isinstance(result, NotJudged) or result.candidate is None:
        return None
    values = np.asarray(result.candidate[layer - 1][k], dtype=np.float64)
    wrong = np.zeros(values.shape, dtype=bool)
    for comparison in (result.vs_autodiff, result.vs_fd):
        if comparison is not None:
            wrong |= comparison.params[2 * (layer - 1) + k].bad
    return values, ~wrong


# --- the lecture's exercises ---------------------------------------------------------------------


def exercise_2(subject: Subject) -> dict[str, Any]:
    from reports.lecture import EXERCISE_2
    from reports.trace import trace

    params, X, Y, spec = (EXERCISE_2[key] for key in ("params", "X", "Y", "spec"))
    worked = trace(params, X, Y, spec)
    judged = subject.judge(params, X, Y, spec)
    out: dict[str, Any] = {
        "widths": list(spec.widths),
        "activations": list(spec.activations),
        "x": X[0].tolist(),
        "W": [W.tolist() for W, _ in params],
        "forward": [
            {"layer": row.layer, "quantity": row.name, "value": row.manual}
            for row in worked.forward
        ],
        "judged": not isinstance(judged, NotJudged),
    }
    rows, wrong = [], 0
    for row in sorted(worked.backward, key=lambda row: -row.layer):  # last layer first
        item = {
            "layer": row.layer,
            "quantity": row.name,
            "manual": row.manual,
            "jax": row.autodiff,
            "fd": row.fd,
            "fd_error": row.fd_error,
            "witnesses_agree": row.agrees,
        }
        param = row.name.split("∂")[-1][0]  # ∂H/∂W^(l)_ij -> "W"
        entries = entry_verdicts(judged, row.layer, "Wb".index(param)) if param in "Wb" else None
        if entries is not None:
            values, agrees = entries
            item["candidate"] = float(values[row.index])
            item["candidate_agrees"] = bool(agrees[row.index])
            wrong += not item["candidate_agrees"]
        rows.append(item)
    out["backward"] = rows
    out["candidate_wrong"] = wrong
    out["candidate_entries"] = sum(W.size + b.size for W, b in params)
    witnesses = worked.agrees
    if isinstance(judged, NotJudged):
        out["not_judged_because"] = judged.reason
        out["agrees"] = witnesses
        return out
    if not judged.ok:
        out["candidate_problem"] = why_wrong(judged)
    out["agrees"] = bool(witnesses and judged.ok)
    return out


def exercise_1(subject: Subject) -> dict[str, Any]:
    from reports.lecture import exercise_1, exercise_1_cases

    worked = exercise_1()
    for item, (spec, params, X, Y) in zip(worked["completions"], exercise_1_cases(), strict=True):
        judged = subject.judge(params, X, Y, spec)
        item["judged"] = not isinstance(judged, NotJudged)
        if not item["judged"]:
            item["not_judged_because"] = judged.reason
            continue
        entries = entry_verdicts(judged, 1, 0)
        if entries is None:
            item["candidate_problem"] = why_wrong(judged)
        else:
            item["dH_dW1_11"]["candidate"] = float(entries[0][0, 0])
        item["candidate_agrees"] = item["dH_dW1_11"].get("candidate") == worked["answer"]
    judged_items = [item for item in worked["completions"] if item["judged"]]
    worked["judged"] = bool(judged_items)
    worked["agrees"] = worked["agrees"] and all(item["candidate_agrees"] for item in judged_items)
    return worked


def lecture(subject: Subject) -> dict[str, Any]:
    return {"exercise_2": exercise_2(subject), "exercise_1": exercise_1(subject)}


def fd_steps() -> dict[str, Any]:
    """Error against step h on W^(1)_11 of a small tanh network, float64 and float32."""
    import manual
    from reference.fd import finite_differences, risk_of
    from reference.fd_rounding import rounding_floor, unperturbed_point
    from reference.fd_stencil import OFFSETS, stencil_estimate

    spec = Spec((3, 4, 1), ("tanh", "identity"), "square")
    rng = np.random.default_rng(3)
    params = [(rng.normal(size=w), rng.normal(size=b) * 0.5) for w, b in spec.shapes()]
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
    exact = float(manual.gradients(params, X, Y, spec)[0][0][0, 0])
    steps = [2.0**-k for k in range(45)]
    out: dict[str, Any] = {
        "network": {
            "widths": list(spec.widths),
            "activations": list(spec.activations),
            "loss": spec.loss,
        },
        "entry": "W^(1)_11",
        "exact": exact,
        "steps": steps,
    }
    for dtype in (np.float64, np.float32):
        cast = [(W.astype(dtype), b.astype(dtype)) for W, b in params]
        Xc, Yc = X.astype(dtype), Y.astype(dtype)
        point = unperturbed_point(cast, Xc, Yc, spec)
        central, richardson, estimate = [], [], []
        for h in steps:
            values = []
            for offset in OFFSETS:
                moved = [(W.copy(), b.copy()) for W, b in cast]
                moved[0][0][0, 0] = dtype(cast[0][0][0, 0] + dtype(offset * h))
                values.append(float(risk_of(moved, Xc, Yc, spec)))
            risks = np.array([values])  # float32 values, combined in float64
            floor = rounding_floor(risks, point)
            result = stencil_estimate(risks, point.risk, np.array([h]), floor)
            central.append(abs((values[0] - values[1]) / (2 * h) - exact) / abs(exact))
            richardson.append(abs(float(result.value[0]) - exact) / abs(exact))
            estimate.append(float(result.error[0]) / abs(exact))
        out[np.dtype(dtype).name] = {
            "central": central,
            "richardson": richardson,
            "estimate": estimate,
        }
    chosen = finite_differences(params, X, Y, spec)
    out["chosen"] = {
        "step": float(chosen.step[0][0][0, 0]),
        "error": abs(float(chosen.gradients[0][0][0, 0]) - exact) / abs(exact),
        "estimate": float(chosen.error[0][0][0, 0]) / abs(exact),
    }
    return out


def time_one(width: int) -> dict[str, Any]:
    """Each witness's time on a 16-width-width-1 tanh network, batch 16 (jitted ones warm)."""
    import jax
    import jax.numpy as jnp

    import manual
    from reference.fd import finite_differences
    from reference.network import computing_in
    from reports.bench_timing import jitted_gradients, mlp, per_call_seconds

    widths = (16, width, width, 1)
    spec, params, X, Y = mlp(widths, ("tanh", "tanh", "identity"), "square", 16)
    row: dict[str, Any] = {
        "widths": list(widths),
        "parameters": int(sum(W.size + b.size for W, b in params)),
        "manual_numpy_s": per_call_seconds(lambda: manual.gradients(params, X, Y, spec)),
    }
    with computing_in(np.float64):
        jparams = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
        jX, jY = jnp.asarray(X), jnp.asarray(Y)
        ours, theirs = jitted_gradients(spec)
        for label, fn in (("manual_jit_s", ours), ("jax_grad_jit_s", theirs)):
            jax.block_until_ready(fn(jparams, jX, jY))  # compile outside the timing
            row[label] = per_call_seconds(lambda fn=fn: jax.block_until_ready(fn(jparams, jX, jY)))
    finite_differences(params, X, Y, spec)  # wide layers run compiled: compile outside the timing
    row["finite_differences_s"] = per_call_seconds(
        lambda: finite_differences(params, X, Y, spec), repeat=2
    )
    return row


#: The timed methods, as the report names them.
METHODS = {
    "manual_numpy_s": "manual, NumPy eager",
    "manual_jit_s": "manual, jitted",
    "jax_grad_jit_s": "jax.grad, jitted",
    "finite_differences_s": "finite differences, every entry",
}


def timings(tick: Callable[[], None]) -> dict[str, Any]:
    """Each witness's time as the parameter count grows, and the fitted growth exponents."""
    from reports.bench_timing import exponent

    rows = []
    for width in (8, 16, 32, 64, 128):
        rows.append(time_one(width))
        tick()
    sizes = [row["parameters"] for row in rows]
    return {
        "network": {"activations": ["tanh", "tanh", "identity"], "loss": "square"},
        "batch": 16,
        "dtype": "float64",
        "sizes": rows,
        "exponents": {m: exponent(sizes, [row[m] for row in rows]) for m in METHODS},
    }


def verdict(found: Any, subject: Subject, exercises: dict, swept: dict, seed: int) -> dict:
    """The report's verdict: the sweep's and the exercises', the worst values with their cases,
    and on a failure ``_failure``'s account."""
    exercises = [exercises["exercise_2"], exercises["exercise_1"]]
    lecture_agrees = all(item["agrees"] for item in exercises)
    failing = [r for r in swept["records"] if not r["ok"]]
    wrong_entries = [
        {"quantity": row["quantity"], "got": row["candidate"], "expected": row["jax"]}
        for row in exercises[0]["backward"]
        if row.get("candidate_agrees") is False
    ]
    out: dict[str, Any] = {
        "lecture_wrong": wrong_entries,
        "verdict": "pass" if found.ok and lecture_agrees else "fail",
        "implementation": subject.name,
        "candidate_label": subject.label,
        "examples": found.examples,
        "skipped": found.skipped,
        "failing_cases": len(failing),
        "sweep_agrees": found.ok,
        "lecture_agrees": lecture_agrees,
        "worst_errors": {
            pair: {"value": s["worst_error"], "case": s["worst_error_case"]}
            for pair, s in swept["summary"].items()
            if "worst_error" in s
        },
        "worst_ratios": {
            pair: {"value": s["worst_ratio"], "case": s["worst_ratio_case"]}
            for pair, s in swept["summary"].items()
            if "worst_ratio" in s
        },
        "reproduce": subject.command(seed) + f" --examples {found.failed_at or found.examples}",
        "check": found.as_json(),
    }
    if not found.ok:
        out.update(_failure(found, swept))
    return out


def _failure(found: Any, swept: dict) -> dict[str, Any]:
    """What the verdict says of a failing sweep: where, what kind, the shrunk case, the worst
    mismatch, the diagnosis, the per-layer table and the snippet."""
    from reference.account import table_rows
    from reference.verify import KIND_WORDS

    out: dict[str, Any] = {}
    out["failed_at"] = found.failed_at
    out["kind"] = found.kind
    out["kind_words"] = KIND_WORDS[found.kind]
    out["concentration"] = concentration(swept["by"], swept["cases"])
    out["shrink_examples"] = found.shrink_examples
    spec = found.case.spec
    out["counterexample"] = {
        "widths": list(spec.widths),
        "activations": list(spec.activations),
        "loss": spec.loss,
        "n": int(found.case.X.shape[0]),
    }
    mismatches = found.mismatches()
    if mismatches:
        top = max(mismatches, key=lambda item: item["layer"])
        out["worst_mismatch"] = (
            f"layer {top['layer']}, {top['param']}: {top['entries']} of {top['of']} entries wrong "
            f"(against {' and '.join(top['witnesses'])}); worst {top['worst_entry']}: "
            f"{top['implementation']:.10g} instead of {top['witness_value']:.10g}"
        )
    elif found.result.error:
        out["worst_mismatch"] = f"the implementation {found.result.error}"
    if found.diagnosis is not None:
        out["diagnosis"] = found.diagnosis.lines()
    if found.result.kind in ("wrong_values", "non_finite"):
        columns, *rows = table_rows(found.result)
        out["counterexample_table"] = {
            "columns": list(columns),
            "rows": [{"cells": list(row), "wrong": row[-1] != "ok"} for row in rows],
        }
    out["snippet"] = found.snippet()
    return out
