"""``backprop-verify report``: the comparison report, as HTML, Markdown and JSON.

One run gathers five things and writes them three ways (``report.html`` self-contained with its
figures embedded, ``report.md`` with the figures beside it in ``figures/``, ``report.json``):

- ``environment``: versions, machine, dtype, seed, number of cases;
- ``lecture_examples``: exercise 2 layer by layer from the three witnesses, exercise 1's answer
  with its reason, checked on several completions of the network;
- ``sweep``: the check harness's random cases (the implementation against ``jax.grad`` and
  finite differences, and ``jax.grad`` against finite differences), their pairwise errors
  broken down by activation, loss and depth, kink entries apart, the worst cases;
- ``finite_difference_steps``: error against step h on one entry, float64 and float32;
- ``timings``: the witnesses' cost as the parameter count grows, with growth exponents;
- ``verdict``: the check's verdict, with the shrunk counterexample and its diagnosis on a failure.

The JSON's layout is documented in the README ("report.json").
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from reference import Spec
from reference.spec import ACTIVATIONS, LOSSES

__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_OUT",
    "PAIRS",
    "build",
    "json_ready",
    "json_text",
    "summary_line",
]

DEFAULT_EXAMPLES = 300
DEFAULT_OUT = "backprop-verify-report"

#: The three pairs of witnesses, in the order every table and figure shows them.
PAIRS = ("candidate_vs_jax", "candidate_vs_fd", "jax_vs_fd")


# --- what the report measures -------------------------------------------------------------------


def _environment(name: str, examples: int, seed: int, chosen: dict[str, Any]) -> dict[str, Any]:
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


class Subject:
    """The implementation under check, called in its own conventions inside its scope."""

    def __init__(self, implementation: Callable, name: str, chosen: dict[str, Any]) -> None:
        from reference.scope import options

        self.name = name
        self.label = "manual" if name == "manual:gradients" else name
        self.scope, conventions = options(**chosen)
        self.function = conventions.wrap(implementation)
        self.flags = _flags(chosen)

    def judge(self, params: list, X: np.ndarray, Y: np.ndarray, spec: Spec) -> Any:
        """The three-way verdict on one case, or why it was not judged (a sentence)."""
        from reference.harness import DEFAULT_TIME_LIMIT
        from reference.strategies import Case
        from reference.verify import verify

        outside = self.scope.outside(Case(spec, params, X, Y))
        if outside is not None:
            return f"outside the declared scope ({outside})"
        result = verify(self.function, params, X, Y, spec, time_limit=DEFAULT_TIME_LIMIT)
        if result.unsupported:
            return "declined by the implementation (NotImplementedError)"
        return result

    def command(self, seed: int, case: int | None = None) -> str:
        """The command line that checks this implementation again (one case, or the run)."""
        words = ["backprop-verify check", self.name, f"--seed {seed}"]
        words += [f"--case {case}"] if case is not None else []
        return " ".join(words + ([self.flags] if self.flags else []))


def _flags(chosen: dict[str, Any]) -> str:
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


def _why_wrong(result: Any) -> str:
    from reference.verify import KIND_WORDS

    if isinstance(result, str):
        return result
    return result.error or KIND_WORDS.get(result.kind or "", "disagrees with the witnesses")


def _entry_verdicts(result: Any, layer: int, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The candidate's values of one parameter of ``result`` and which of them agree."""
    if isinstance(result, str) or result.candidate is None:
        return None
    values = np.asarray(result.candidate[layer - 1][k], dtype=np.float64)
    wrong = np.zeros(values.shape, dtype=bool)
    for comparison in (result.vs_autodiff, result.vs_fd):
        if comparison is not None:
            wrong |= comparison.params[2 * (layer - 1) + k].bad
    return values, ~wrong


# --- the lecture's exercises ---------------------------------------------------------------------


def _exercise_2(subject: Subject) -> dict[str, Any]:
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
        "judged": not (isinstance(judged, str) and judged.startswith(("outside", "declined"))),
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
        entries = _entry_verdicts(judged, row.layer, "Wb".index(param)) if param in "Wb" else None
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
    if not out["judged"]:
        out["not_judged_because"] = judged
        out["agrees"] = witnesses
        return out
    if isinstance(judged, str) or not judged.ok:
        out["candidate_problem"] = _why_wrong(judged)
    out["agrees"] = bool(witnesses and not isinstance(judged, str) and judged.ok)
    return out


def _exercise_1(subject: Subject) -> dict[str, Any]:
    from reports.lecture import exercise_1

    worked = exercise_1()
    for item in worked["completions"]:
        spec, params, X, Y = item.pop("case")
        judged = subject.judge(params, X, Y, spec)
        entries = _entry_verdicts(judged, 1, 0)
        if entries is not None:
            item["dH_dW1_11"]["candidate"] = float(entries[0][0, 0])
        elif not (isinstance(judged, str) and judged.startswith(("outside", "declined"))):
            item["candidate_problem"] = _why_wrong(judged)
        item["judged"] = entries is not None or "candidate_problem" in item
        if item["judged"]:
            item["candidate_agrees"] = item["dH_dW1_11"].get("candidate") == worked["answer"]
        else:
            item["not_judged_because"] = judged
    judged_items = [item for item in worked["completions"] if item["judged"]]
    worked["judged"] = bool(judged_items)
    worked["agrees"] = worked["agrees"] and all(item["candidate_agrees"] for item in judged_items)
    return worked


def _lecture(subject: Subject) -> dict[str, Any]:
    return {"exercise_2": _exercise_2(subject), "exercise_1": _exercise_1(subject)}


# --- the sweep -----------------------------------------------------------------------------------


def _normwise(first: list, second: list, masks: list | None = None) -> float | None:
    """‖first - second‖ / max(‖first‖, ‖second‖) over the entries the masks keep: 0 where they
    are equal, at most 2; None where no entry is kept."""
    keeps = [slice(None)] * len(first) if masks is None else masks

    def kept(arrays: list) -> np.ndarray:
        pairs = zip(arrays, keeps, strict=True)
        return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)[k]) for v, k in pairs])

    a, b = kept(first), kept(second)
    if a.size == 0:
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        diff = float(np.linalg.norm(a - b))
    if diff == 0.0:
        return 0.0
    if not math.isfinite(diff):
        return math.inf
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    return diff / scale if scale > 0 else math.inf


def _flat(pairs: list) -> list:
    return [array for pair in pairs for array in pair]


def _worst(comparison: Any, keep: list) -> dict[str, Any]:
    """The entry of ``comparison`` with the largest |difference| / tolerance among those kept:
    the ratio, the entry's lecture name, the candidate's and the witness's values, the
    tolerance. Ratio 0 and no entry where nothing is kept."""
    from reference.compare import lecture_index

    best: dict[str, Any] = {"ratio": 0.0}
    for p, mask in zip(comparison.params, keep, strict=True):
        ratios = np.where(np.isnan(p.ratios()), np.inf, p.ratios())
        ratios = np.where(mask, ratios, -1.0)
        if ratios.size == 0 or (ratios.max() <= best["ratio"] and "entry" in best):
            continue
        at = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
        if ratios[at] < 0:
            continue
        candidate, witness = p._arrays
        best = {
            "ratio": float(ratios[at]),
            "entry": lecture_index(p.param, p.layer, tuple(int(i) for i in at), p.shape),
            "got": float(candidate[at]),
            "expected": float(witness[at]),
            "tolerance": float(p.tolerances()[at]),
        }
    return best


def _outside(comparison: Any, kink: list) -> int:
    """How many kink entries ``comparison`` found outside their one-sided interval."""
    return int(sum((p.bad & m).sum() for p, m in zip(comparison.params, kink, strict=True)))


def _pair(error: float | None, worst: dict[str, Any]) -> dict[str, Any]:
    out = dict(worst)
    if error is not None:
        out["error"] = error
    return out


def _case_record(index: int, draw: int, case: Any, result: Any, subject: Subject, seed: int):
    """One swept case: its spec, each pair's normwise error and worst error/tolerance, kinks.

    Pairs with finite differences count the smooth entries (no kink in the stencil, judged);
    kink entries are counted apart, with how many fell outside their one-sided interval. A pair
    not computed (the candidate raised, say) is absent.
    """
    fd = result.fd
    unjudged = [u | ~s for u, s in zip(_flat(fd.unresolved), _flat(fd.sampled), strict=True)]
    kink = [k & ~u for k, u in zip(_flat(fd.kink), unjudged, strict=True)]
    smooth = [~(k | u) for k, u in zip(_flat(fd.kink), unjudged, strict=True)]
    every = [np.ones(m.shape, dtype=bool) for m in smooth]
    reference = _flat(result.reference.grads)
    fd_values = _flat(fd.gradients)
    pairs = {
        "jax_vs_fd": _pair(
            _normwise(reference, fd_values, smooth), _worst(result.autodiff_vs_fd, smooth)
        )
    }
    outside = {"jax": _outside(result.autodiff_vs_fd, kink)}
    if result.candidate is not None and result.vs_autodiff is not None:
        candidate = _flat(result.candidate)
        pairs["candidate_vs_jax"] = _pair(
            _normwise(candidate, reference), _worst(result.vs_autodiff, every)
        )
        pairs["candidate_vs_fd"] = _pair(
            _normwise(candidate, fd_values, smooth), _worst(result.vs_fd, smooth)
        )
        outside["candidate"] = _outside(result.vs_fd, kink)
    spec = case.spec
    record = {
        "case": index,
        "draw": draw,
        "widths": list(spec.widths),
        "activations": list(spec.activations),
        "loss": spec.loss,
        "depth": spec.depth,
        "widest": max(spec.widths),
        "n": int(case.X.shape[0]),
        "parameters": int(sum(W.size + b.size for W, b in case.params)),
        "gradient_norm": float(np.linalg.norm(np.concatenate([np.ravel(g) for g in reference]))),
        "ok": bool(result.ok),
        "pairs": {pair: pairs[pair] for pair in PAIRS if pair in pairs},
        "largest_ratio": max(item["ratio"] for item in pairs.values()),
        "kink_entries": int(sum(m.sum() for m in kink)),
        "kink_entries_outside": outside,
        "unresolved_entries": int(sum(u.sum() for u in _flat(fd.unresolved))),
        "reproduce": subject.command(seed, draw),
    }
    if result.kind is not None:
        record["kind"] = result.kind
    if result.error is not None:
        record["error"] = result.error
    return record


def _summary(records: list[dict[str, Any]], pair: str) -> dict[str, Any]:
    """One pair's normwise errors over ``records``, and its worst error and ratio with their
    cases."""
    having = [r for r in records if "error" in r["pairs"].get(pair, {})]
    out: dict[str, Any] = {"cases": len(having)}
    if not having:
        return out
    errors = np.array([r["pairs"][pair]["error"] for r in having], dtype=np.float64)
    worst_error = max(having, key=lambda r: r["pairs"][pair]["error"])
    worst_ratio = max(having, key=lambda r: r["pairs"][pair]["ratio"])
    out.update(
        {
            "exact": int((errors == 0).sum()),
            "median_error": float(np.median(errors)),
            "p90_error": float(np.quantile(errors, 0.9)),
            "worst_error": worst_error["pairs"][pair]["error"],
            "worst_error_case": worst_error["case"],
            "worst_error_ratio": worst_error["pairs"][pair]["ratio"],
            "worst_error_gradient_norm": worst_error["gradient_norm"],
            "worst_ratio": worst_ratio["pairs"][pair]["ratio"],
            "worst_ratio_case": worst_ratio["case"],
        }
    )
    return out


#: Groupings of the cases. A case counts under every activation it has; ``widest_band`` is the
#: band of its widest layer.
_WIDEST_BANDS = ((1, 4), (5, 8), (9, 16), (17, 48), (49, 10**9))


def _band(width: int) -> str:
    for low, high in _WIDEST_BANDS:
        if low <= width <= high:
            return f"{low}-{high}" if high < 10**9 else f"{low}+"
    raise ValueError(width)


_BELONGS: dict[str, Callable[[dict, Any], bool]] = {
    "depth": lambda record, label: record["depth"] == label,
    "activation": lambda record, label: label in record["activations"],
    "loss": lambda record, label: record["loss"] == label,
    "widest_band": lambda record, label: _band(record["widest"]) == label,
}


def _labels_of(kind: str, records: list[dict[str, Any]]) -> list:
    if kind == "depth":
        return sorted({r["depth"] for r in records})
    if kind == "activation":
        return [a for a in ACTIVATIONS if any(a in r["activations"] for r in records)]
    if kind == "loss":
        return [loss for loss in LOSSES if any(r["loss"] == loss for r in records)]
    bands = {_band(r["widest"]) for r in records}
    return [_band(low) for low, _ in _WIDEST_BANDS if _band(low) in bands]


def _groups(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per depth, activation, loss and widest layer: cases, failing cases, each pair's
    summary."""
    out = {}
    for kind, belongs in _BELONGS.items():
        rows = []
        for label in _labels_of(kind, records):
            members = [r for r in records if belongs(r, label)]
            rows.append(
                {
                    kind: label,
                    "cases": len(members),
                    "failing": sum(not r["ok"] for r in members),
                    "pairs": {pair: _summary(members, pair) for pair in PAIRS},
                }
            )
        out[kind] = rows
    return out


def _concentration(groups: dict[str, list[dict[str, Any]]], cases: int) -> list[str]:
    """Sentences for the groupings where every failing case shares one label (and that label
    is not shared by every case)."""
    failing = sum(row["failing"] for row in groups["loss"])
    lines = []
    for kind, rows in groups.items():
        if kind == "activation":
            common = [r for r in rows if r["failing"] == failing and r["cases"] < cases]
            lines += [
                f"every failing case uses {r['activation']}: {r['failing']} of the {r['cases']} "
                f"cases that use it fail, none of the {cases - r['cases']} others"
                for r in common
            ]
            continue
        hit = [row for row in rows if row["failing"]]
        first = rows.index(hit[0]) if hit else 0
        below = rows[:first]
        if failing and kind == "depth" and len(hit) > 1 and below:
            spared = sum(row["cases"] for row in below)
            lines.append(
                f"no case of depth below {hit[0][kind]} fails (0 of {spared}); "
                f"{failing} of the {cases - spared} from {hit[0][kind]} on do"
            )
        if failing and len(rows) > 1 and len(hit) == 1:
            row = hit[0]
            name = {"depth": "depth", "loss": "loss", "widest_band": "widest layer"}[kind]
            lines.append(
                f"every failing case has {name} {row[kind]}: {row['failing']} of the "
                f"{row['cases']} such cases fail, none of the {cases - row['cases']} others"
            )
    return lines


def _sweep(records: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted(records, key=lambda r: (r["ok"], -r["largest_ratio"]))
    return {
        "cases": len(records),
        "summary": {pair: _summary(records, pair) for pair in PAIRS},
        "by": _groups(records),
        "kinks": {
            "entries": sum(r["kink_entries"] for r in records),
            "cases_with_kinks": sum(r["kink_entries"] > 0 for r in records),
            "candidate_outside": sum(
                r["kink_entries_outside"].get("candidate", 0) for r in records
            ),
            "jax_outside": sum(r["kink_entries_outside"]["jax"] for r in records),
            "unresolved_entries": sum(r["unresolved_entries"] for r in records),
        },
        "worst_cases": [r["case"] for r in ranked[:5]],
        "order": [r["case"] for r in ranked],
        "records": records,
    }


def _fd_steps() -> dict[str, Any]:
    """Error against step h on W^(1)_11 of a small tanh network, float64 and float32."""
    import manual
    from reference.fd import (
        _OFFSETS,
        _estimate,
        _rounding,
        _unperturbed,
        finite_differences,
        risk_of,
    )

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
        point = _unperturbed(cast, Xc, Yc, spec)
        central, richardson, estimate = [], [], []
        for h in steps:
            values = []
            for offset in _OFFSETS:
                moved = [(W.copy(), b.copy()) for W, b in cast]
                moved[0][0][0, 0] = dtype(cast[0][0][0, 0] + dtype(offset * h))
                values.append(float(risk_of(moved, Xc, Yc, spec)))
            risks = np.array([values])  # float32 values, combined in float64
            result = _estimate(risks, point.risk, np.array([h]), _rounding(risks, point))
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


def _time_one(width: int) -> dict[str, Any]:
    """Each witness's time on a 16-width-width-1 tanh network, batch 16 (jitted ones warm)."""
    import jax
    import jax.numpy as jnp

    import manual
    from reference.fd import finite_differences
    from reference.network import computing_in
    from reports.bench import jitted_gradients, mlp, per_call_seconds

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


def _timings(tick: Callable[[], None]) -> dict[str, Any]:
    """Each witness's time as the parameter count grows, and the fitted growth exponents."""
    from reports.bench import exponent

    rows = []
    for width in (8, 16, 32, 64, 128):
        rows.append(_time_one(width))
        tick()
    sizes = [row["parameters"] for row in rows]
    return {
        "network": {"activations": ["tanh", "tanh", "identity"], "loss": "square"},
        "batch": 16,
        "dtype": "float64",
        "sizes": rows,
        "exponents": {m: exponent(sizes, [row[m] for row in rows]) for m in METHODS},
    }


# --- figures -------------------------------------------------------------------------------------

#: The Okabe–Ito palette, told apart with every common colour-vision deficiency.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
_COLOURS = {
    "candidate_vs_jax": OKABE_ITO["blue"],
    "candidate_vs_fd": OKABE_ITO["vermillion"],
    "jax_vs_fd": OKABE_ITO["green"],
}
_FLOOR = 1e-18  # exact agreement (error 0) is drawn here on the log scales
#: Figures are drawn at 2x (sharp on HiDPI screens) for a width of 720 CSS pixels, with text
#: of at least 10 pt at that size.
FIGURE_WIDTH_IN, FIGURE_DPI, FONT_PT = 7.2, 200, 10.5


def _labels(candidate: str, short: bool = False) -> dict[str, str]:
    fd = "FD" if short else "finite differences"
    jax = "jax" if short else "jax.grad"
    yours = "yours" if short and candidate != "manual" else candidate
    return {
        "candidate_vs_jax": f"{yours} – {jax}",
        "candidate_vs_fd": f"{yours} – {fd}",
        "jax_vs_fd": f"{jax} – {fd}",
    }


def _figure(height: float, rows: int = 1, shared: bool = True) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(FIGURE_WIDTH_IN, height), layout="constrained")
    axes = figure.subplots(rows, 1, squeeze=False, sharex=shared and rows > 1)[:, 0]
    return figure, axes


def _png(figure: Any) -> bytes:
    """The figure as PNG bytes, drawn by the Agg backend (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attaches itself as the figure's canvas
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return buffer.getvalue()


def _logged(values: list[float]) -> np.ndarray:
    present = np.array([v for v in values if math.isfinite(v)], dtype=float)
    return np.log10(np.maximum(present, _FLOOR))


def _errors(records: list[dict[str, Any]], pair: str) -> list[float]:
    return [r["pairs"][pair]["error"] for r in records if "error" in r["pairs"].get(pair, {})]


def _figure_sweep(data: dict[str, Any], labels: dict[str, str]) -> bytes:
    """One panel per pair (no line hides another), on a shared log axis."""
    records = data["sweep"]["records"]
    figure, axes = _figure(5.4, rows=3)
    bins = np.arange(-18.5, 1.5, 0.5)
    for ax, pair in zip(axes, PAIRS, strict=True):
        values = _errors(records, pair)
        exact = sum(v == 0 for v in values)
        ax.hist(_logged(values), bins=bins, color=_COLOURS[pair], edgecolor="white")
        ax.set_title(f"{labels[pair]}: {len(values)} cases, {exact} exact", loc="left")
        ax.set_ylabel("cases")
    axes[-1].set_xlabel("log10 normwise relative error (exact agreement drawn at -18)")
    return _png(figure)


def _figure_groups(data: dict[str, Any], labels: dict[str, str]) -> bytes:
    records = data["sweep"]["records"]
    groups = data["sweep"]["by"]
    kinds = ("depth", "activation", "loss")
    figure, axes = _figure(9.0, rows=3, shared=False)
    for ax, kind in zip(axes, kinds, strict=True):
        keys = [row[kind] for row in groups[kind]]
        belongs = _BELONGS[kind]
        for offset, pair in zip((-0.27, 0.0, 0.27), PAIRS, strict=True):
            series = [_logged(_errors([r for r in records if belongs(r, k)], pair)) for k in keys]
            shown = [(i + offset, s) for i, s in enumerate(series) if s.size]
            if not shown:
                continue
            parts = ax.boxplot(
                [s for _, s in shown],
                positions=[p for p, _ in shown],
                widths=0.24,
                patch_artist=True,
                flierprops={"markersize": 3},
                medianprops={"color": "black"},
            )
            for box in parts["boxes"]:
                box.set_facecolor(_COLOURS[pair])
            ax.plot([], [], color=_COLOURS[pair], linewidth=8, label=labels[pair])
        ax.set_xticks(range(len(keys)), [str(k) for k in keys])
        ax.set_ylabel("log10 error")
        ax.set_title(f"by {kind}", loc="left")
        ax.set_ylim(-19, 1)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=1)
    return _png(figure)


def _figure_fd_steps(data: dict[str, Any]) -> bytes:
    study = data["finite_difference_steps"]
    steps = np.array(study["steps"])
    figure, (axes,) = _figure(5.6)
    for dtype, style in (("float64", "-"), ("float32", "--")):
        for key, colour, name in (
            ("central", OKABE_ITO["vermillion"], "central D(h)"),
            ("richardson", OKABE_ITO["blue"], "Richardson"),
        ):
            values = np.maximum(study[dtype][key], _FLOOR)
            axes.loglog(steps, values, style, color=colour, label=f"{name}, {dtype}")
    axes.loglog(
        steps,
        np.maximum(study["float64"]["estimate"], _FLOOR),
        ":",
        color=OKABE_ITO["black"],
        label="error estimate, float64",
    )
    chosen = study["chosen"]
    axes.axvline(chosen["step"], color=OKABE_ITO["green"], linewidth=1.5)
    axes.plot(
        [chosen["step"]],
        [max(chosen["error"], _FLOOR)],
        "o",
        color=OKABE_ITO["green"],
        label=f"chosen step 2^{round(math.log2(chosen['step']))}",
    )
    axes.set_xlabel("step h")
    axes.set_ylabel("relative error")
    import re

    entry = re.sub(r"\^\((\d+)\)_(\d+)", r"$^{(\1)}_{\2}$", study["entry"])
    axes.set_title(f"Error against step, {entry}", loc="left")
    figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncol=2)
    return _png(figure)


def _figure_timings(data: dict[str, Any]) -> bytes:
    timing = data["timings"]
    sizes = [row["parameters"] for row in timing["sizes"]]
    figure, (axes,) = _figure(5.0)
    markers = ("o", "s", "^", "D")
    colours = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["green"], OKABE_ITO["purple"])
    for (method, name), marker, colour in zip(METHODS.items(), markers, colours, strict=True):
        exponent = timing["exponents"][method]
        axes.loglog(
            sizes,
            [row[method] for row in timing["sizes"]],
            marker=marker,
            color=colour,
            label=f"{name} (P^{exponent:.2f})",
        )
    axes.set_xlabel("parameters P")
    axes.set_ylabel("seconds per gradient")
    axes.set_title("Cost against parameter count", loc="left")
    figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncol=2)
    return _png(figure)


def _figures(data: dict[str, Any]) -> dict[str, bytes]:
    import matplotlib

    labels = _labels(data["verdict"]["candidate_label"])
    with matplotlib.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 0.5}):
        figures = {
            "sweep": _figure_sweep(data, labels),
            "sweep_groups": _figure_groups(data, labels),
            "fd_steps": _figure_fd_steps(data),
        }
        if "timings" in data:
            figures["timings"] = _figure_timings(data)
    return figures


# --- rendering -----------------------------------------------------------------------------------


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if abs(value) >= 1e-3 and abs(value) < 1e5:
        return f"{value:.{digits + 3}g}"
    return f"{value:.{digits}g}"


#: Ratios beyond this print as the values they come from.
READABLE_RATIO = 1e6


def _ratio(pair: dict[str, Any] | None) -> str:
    """A pair's worst error/tolerance, readably: a number up to 10^6, else what was expected
    and what came."""
    if not pair:
        return "—"
    ratio = pair["ratio"]
    if ratio <= READABLE_RATIO:
        return _number(ratio, 2)
    return f"expected {_number(pair['expected'], 2)}, got {_number(pair['got'], 2)}"


_SUPERSCRIPT = str.maketrans("0123456789()-,", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁻˒")
_SUBSCRIPT = str.maketrans("0123456789(),", "₀₁₂₃₄₅₆₇₈₉₍₎,")


def _plain_notation(text: Any) -> str:
    """Lecture notation in Unicode, for Markdown: ``W^(2)_13`` as W⁽²⁾₁₃."""
    import re

    text = re.sub(r"\^\((\d+)\)", lambda m: f"({m.group(1)})".translate(_SUPERSCRIPT), str(text))
    letters = str.maketrans("ijk", "ᵢⱼₖ")
    text = re.sub(
        r"(?<=[A-Za-z⁾])_([ijk]{1,2})(?![A-Za-z])", lambda m: m.group(1).translate(letters), text
    )
    return re.sub(r"(?<=[A-Za-z⁾])_([0-9,]+)", lambda m: m.group(1).translate(_SUBSCRIPT), text)


def _notation(text: Any) -> Any:
    """Lecture notation for HTML: ``W^(2)_13`` as W<sup>(2)</sup><sub>13</sub>, ``x_1`` as
    x<sub>1</sub>; everything else escaped."""
    import re

    from markupsafe import Markup, escape

    html = str(escape(text))
    html = re.sub(r"\^\((\d+)\)", r"<sup>(\1)</sup>", html)
    html = re.sub(r"(?<=[A-Za-z>])_([0-9,]+|[ijk]{1,2}(?![A-Za-z]))", r"<sub>\1</sub>", html)
    return Markup(html)


def _templates() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = _number
    environment.filters["ratio"] = _ratio
    environment.filters["notation"] = _notation
    environment.filters["plain"] = _plain_notation
    return environment


def _render(data: dict[str, Any], figures: dict[str, bytes], kind: str) -> str:
    template = _templates().get_template(f"report.{kind}.j2")
    if kind == "html":
        sources = {
            name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            for name, png in figures.items()
        }
    else:
        sources = {name: f"figures/{name}.png" for name in figures}
    records = {r["case"]: r for r in data["sweep"]["records"]}
    return template.render(
        data=data,
        figures=sources,
        pairs=PAIRS,
        records=records,
        ordered=[records[case] for case in data["sweep"]["order"]],
        labels=_labels(data["verdict"]["candidate_label"]),
        short=_labels(data["verdict"]["candidate_label"], short=True),
        methods=METHODS,
        manual=data["verdict"]["implementation"] == "manual:gradients",
    )


_INFINITY = "\u0000infinity\u0000"


def json_ready(value: Any) -> Any:
    """``value`` for ``json_text``: NumPy scalars made Python numbers, tuples lists, NaN None,
    and ±inf a marker that ``json_text`` writes as ±1e999."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return _INFINITY if value > 0 else "-" + _INFINITY
        return value
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, np.generic):
        return json_ready(value.item())
    return value


def json_text(value: Any, indent: int = 1) -> str:
    """``value`` as strict JSON text (no NaN or Infinity tokens). An infinite number is written
    ``1e999`` (or ``-1e999``): a JSON number, which Python's and JavaScript's parsers read as
    infinity and which sorts with the others; NaN is null."""
    text = json.dumps(json_ready(value), indent=indent, allow_nan=False)
    marker = json.dumps(_INFINITY)
    return text.replace(json.dumps("-" + _INFINITY), "-1e999").replace(marker, "1e999") + "\n"


# --- the whole run -------------------------------------------------------------------------------


def _verdict(found: Any, subject: Subject, lecture: dict, sweep: dict, seed: int) -> dict:
    from reference.harness import table_rows
    from reference.verify import KIND_WORDS

    exercises = [lecture["exercise_2"], lecture["exercise_1"]]
    lecture_agrees = all(item["agrees"] for item in exercises)
    failing = [r for r in sweep["records"] if not r["ok"]]
    out: dict[str, Any] = {
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
            for pair, s in sweep["summary"].items()
            if "worst_error" in s
        },
        "worst_ratios": {
            pair: {"value": s["worst_ratio"], "case": s["worst_ratio_case"]}
            for pair, s in sweep["summary"].items()
            if "worst_ratio" in s
        },
        "reproduce": subject.command(seed) + f" --examples {found.failed_at or found.examples}",
        "check": found.as_json(),
    }
    if found.ok:
        return out
    out["failed_at"] = found.failed_at
    out["kind"] = found.kind
    out["kind_words"] = KIND_WORDS[found.kind]
    out["concentration"] = _concentration(sweep["by"], sweep["cases"])
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


def summary_line(data: dict[str, Any]) -> str:
    """What passed and what failed, in one line for the command line."""
    verdict = data["verdict"]
    cases = verdict["examples"]
    sweep = (
        f"all {cases} random cases agree"
        if verdict["sweep_agrees"]
        else f"{verdict['failing_cases']} of {cases} random cases fail (the first, case "
        f"{verdict['failed_at']}: {verdict['kind_words']})"
    )
    parts = [sweep]
    ex2, ex1 = (data["lecture_examples"][key] for key in ("exercise_2", "exercise_1"))
    if not ex2["judged"]:
        parts.append("exercise 2 outside its scope")
    elif ex2["agrees"]:
        parts.append("exercise 2 agrees")
    elif "candidate" in ex2["backward"][-1] or ex2["candidate_wrong"]:
        parts.append(
            f"exercise 2: {ex2['candidate_wrong']} of {ex2['candidate_entries']} gradient entries "
            "wrong"
        )
    else:
        parts.append(f"exercise 2: {ex2.get('candidate_problem', 'wrong')}")
    if not ex1["judged"]:
        parts.append("exercise 1 outside its scope")
    else:
        parts.append("exercise 1 agrees" if ex1["agrees"] else "exercise 1 wrong")
    return f"{verdict['verdict'].upper()}: {verdict['implementation']}: " + "; ".join(parts) + "."


def build(
    out: str | os.PathLike[str] = DEFAULT_OUT,
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    implementation: Callable | None = None,
    name: str | None = None,
    progress: bool = True,
    options: dict[str, Any] | None = None,
    timing: bool = True,
) -> dict[str, Any]:
    """Measure everything and write ``report.html``, ``report.md`` (+ ``figures/``) and
    ``report.json`` into ``out``; returns the JSON's content.

    ``implementation`` (default ``manual.gradients``) is the subject of the whole report: the
    sweep, the verdict and the lecture's exercises, beside the three witnesses. ``options``: the
    scope and conventions of ``reference.harness.check``. ``timing``: time the witnesses.
    """
    from tqdm import tqdm

    import manual
    from reference.harness import check

    if implementation is None:
        implementation, name = manual.gradients, name or "manual:gradients"
    name = name or getattr(implementation, "__qualname__", "implementation")
    chosen = dict(options or {})
    subject = Subject(implementation, name, chosen)
    directory = Path(out)
    figure_dir = directory / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    phases: dict[str, float] = {}
    bar = tqdm(
        total=examples + 4 + (5 if timing else 0),
        desc="backprop-verify report",
        unit="step",
        disable=None if progress else True,  # None: only on a terminal, not in logs
        file=sys.stderr,
        leave=False,
    )
    with bar:
        clock = time.perf_counter()
        lecture = _lecture(subject)
        phases["lecture_examples_s"] = time.perf_counter() - clock
        bar.update(1)

        observed: list[tuple[Any, Any]] = []

        def observe(case: Any, result: Any) -> None:
            observed.append((case, result))
            bar.update(1)

        bar.set_postfix_str("random cases")
        clock = time.perf_counter()
        found = check(
            implementation,
            examples=examples,
            seed=seed,
            name=name,
            observe=observe,
            keep_going=True,
            **chosen,
        )
        numbered = enumerate(zip(observed, found.draws, strict=True), start=1)
        records = [
            _case_record(i, draw, case, result, subject, seed)
            for i, ((case, result), draw) in numbered
        ]
        phases["sweep_s"] = time.perf_counter() - clock
        bar.update(examples - len(records))
        bar.set_postfix_str("step study")
        clock = time.perf_counter()
        steps = _fd_steps()
        phases["finite_difference_steps_s"] = time.perf_counter() - clock
        bar.update(1)
        sweep = _sweep(records)
        data: dict[str, Any] = {
            "environment": _environment(name, found.examples, seed, chosen),
            "verdict": _verdict(found, subject, lecture, sweep, seed),
            "lecture_examples": lecture,
            "sweep": sweep,
            "finite_difference_steps": steps,
        }
        if timing:
            bar.set_postfix_str("timings")
            clock = time.perf_counter()
            data["timings"] = _timings(lambda: bar.update(1))
            phases["timings_s"] = time.perf_counter() - clock
        bar.set_postfix_str("figures")
        clock = time.perf_counter()
        figures = _figures(data)
        for figure_name, png in figures.items():
            (figure_dir / f"{figure_name}.png").write_bytes(png)
        phases["figures_s"] = time.perf_counter() - clock
        bar.update(1)
        phases["total_s"] = time.perf_counter() - started
        data["phases"] = phases
        (directory / "report.json").write_text(json_text(data), encoding="utf-8")
        (directory / "report.md").write_text(_render(data, figures, "md"), encoding="utf-8")
        (directory / "report.html").write_text(_render(data, figures, "html"), encoding="utf-8")
        bar.update(1)
    return data
