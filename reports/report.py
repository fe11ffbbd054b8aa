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

__all__ = ["DEFAULT_EXAMPLES", "DEFAULT_OUT", "PAIRS", "build", "json_ready"]

DEFAULT_EXAMPLES = 300
DEFAULT_OUT = "backprop-verify-report"

#: The three pairs of witnesses, in the order every table and figure shows them.
PAIRS = ("candidate_vs_jax", "candidate_vs_fd", "jax_vs_fd")


# --- what the report measures -------------------------------------------------------------------


def _environment(name: str, examples: int, seed: int) -> dict[str, Any]:
    versions = {}
    for package in ("jax", "jaxlib", "numpy", "hypothesis", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
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
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _lecture() -> dict[str, Any]:
    from reports.lecture import EXERCISE_2, exercise_1
    from reports.trace import trace

    worked = trace(EXERCISE_2["params"], EXERCISE_2["X"], EXERCISE_2["Y"], EXERCISE_2["spec"])
    spec = worked.spec
    return {
        "exercise_2": {
            "widths": list(spec.widths),
            "activations": list(spec.activations),
            "x": EXERCISE_2["X"][0].tolist(),
            "W": [W.tolist() for W, _ in EXERCISE_2["params"]],
            "forward": [
                {"layer": row.layer, "quantity": row.name, "value": row.manual}
                for row in worked.forward
            ],
            "backward": [
                {
                    "layer": row.layer,
                    "quantity": row.name,
                    "manual": row.manual,
                    "jax": row.autodiff,
                    "fd": row.fd,
                    "fd_error": row.fd_error,
                    "agrees": row.agrees,
                }
                for row in sorted(worked.backward, key=lambda row: -row.layer)  # last layer first
            ],
            "agrees": worked.agrees,
        },
        "exercise_1": exercise_1(),
    }


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
    diff = float(np.linalg.norm(a - b))
    if diff == 0.0:
        return 0.0
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    return diff / scale if scale > 0 else math.inf


def _flat(pairs: list) -> list:
    return [array for pair in pairs for array in pair]


def _worst_ratio(comparison: Any, keep: list) -> float:
    """The largest entry |difference| / tolerance of ``comparison`` over the entries kept."""
    worst = 0.0
    for p, mask in zip(comparison.params, keep, strict=True):
        ratios = p.ratios()
        ratios = np.where(np.isnan(ratios), np.inf, ratios)[mask]
        worst = max(worst, float(ratios.max(initial=0.0)))
    return worst


def _outside(comparison: Any, kink: list) -> int:
    """How many kink entries ``comparison`` found outside their one-sided interval."""
    return int(sum((p.bad & m).sum() for p, m in zip(comparison.params, kink, strict=True)))


def _case_record(index: int, case: Any, result: Any) -> dict[str, Any]:
    """One swept case: its spec, the three pairwise errors, worst error/tolerance, kinks.

    Pairs with finite differences count the smooth entries (no kink in the stencil, judged);
    kink entries are counted apart, with how many fell outside their one-sided interval.
    """
    fd = result.fd
    unjudged = [u | ~s for u, s in zip(_flat(fd.unresolved), _flat(fd.sampled), strict=True)]
    kink = [k & ~u for k, u in zip(_flat(fd.kink), unjudged, strict=True)]
    smooth = [~(k | u) for k, u in zip(_flat(fd.kink), unjudged, strict=True)]
    every = [np.ones(m.shape, dtype=bool) for m in smooth]
    reference = _flat(result.reference.grads)
    fd_values = _flat(fd.gradients)
    errors: dict[str, float | None] = dict.fromkeys(PAIRS)
    ratios: dict[str, float | None] = dict.fromkeys(PAIRS)
    outside: dict[str, int | None] = {"candidate": None, "jax": 0}
    errors["jax_vs_fd"] = _normwise(reference, fd_values, smooth)
    ratios["jax_vs_fd"] = _worst_ratio(result.autodiff_vs_fd, smooth)
    outside["jax"] = _outside(result.autodiff_vs_fd, kink)
    if result.candidate is not None and result.kind in (None, "wrong_values"):
        candidate = _flat(result.candidate)
        errors["candidate_vs_jax"] = _normwise(candidate, reference)
        errors["candidate_vs_fd"] = _normwise(candidate, fd_values, smooth)
        ratios["candidate_vs_jax"] = _worst_ratio(result.vs_autodiff, every)
        ratios["candidate_vs_fd"] = _worst_ratio(result.vs_fd, smooth)
        outside["candidate"] = _outside(result.vs_fd, kink)
    spec = case.spec
    return {
        "case": index,
        "widths": list(spec.widths),
        "activations": list(spec.activations),
        "loss": spec.loss,
        "depth": spec.depth,
        "n": int(case.X.shape[0]),
        "parameters": int(sum(W.size + b.size for W, b in case.params)),
        "ok": bool(result.ok),
        "error": result.error,
        "errors": errors,
        "worst_ratio": ratios,
        "kink_entries": int(sum(m.sum() for m in kink)),
        "kink_entries_outside": outside,
        "unresolved_entries": int(sum(u.sum() for u in _flat(fd.unresolved))),
    }


def _summary(values: list[float | None]) -> dict[str, Any]:
    present = np.array([v for v in values if v is not None], dtype=np.float64)
    if present.size == 0:
        return {"cases": 0, "exact": 0, "median": None, "p90": None, "max": None}
    return {
        "cases": int(present.size),
        "exact": int((present == 0).sum()),
        "median": float(np.median(present)),
        "p90": float(np.quantile(present, 0.9)),
        "max": float(present.max()),
    }


#: Whether a case belongs to a group of each kind (a case counts under every activation it has).
_BELONGS: dict[str, Callable[[dict, str], bool]] = {
    "activation": lambda record, label: label in record["activations"],
    "loss": lambda record, label: record["loss"] == label,
    "depth": lambda record, label: str(record["depth"]) == label,
}


def _groups(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Each pair's summary per activation, loss and depth (see ``_BELONGS``)."""
    labels = {
        "activation": list(ACTIVATIONS),
        "loss": list(LOSSES),
        "depth": [str(depth) for depth in sorted({r["depth"] for r in records})],
    }
    return {
        kind: {
            label: {
                pair: _summary([r["errors"][pair] for r in records if belongs(r, label)])
                for pair in PAIRS
            }
            for label in labels[kind]
        }
        for kind, belongs in _BELONGS.items()
    }


def _sweep(records: list[dict[str, Any]]) -> dict[str, Any]:
    def worst(record: dict[str, Any]) -> float:
        return max((v for v in record["worst_ratio"].values() if v is not None), default=0.0)

    ranked = sorted(records, key=worst, reverse=True)
    return {
        "cases": len(records),
        "summary": {pair: _summary([r["errors"][pair] for r in records]) for pair in PAIRS},
        "by": _groups(records),
        "kinks": {
            "entries": sum(r["kink_entries"] for r in records),
            "cases_with_kinks": sum(r["kink_entries"] > 0 for r in records),
            "candidate_outside": sum(r["kink_entries_outside"]["candidate"] or 0 for r in records),
            "jax_outside": sum(r["kink_entries_outside"]["jax"] for r in records),
            "unresolved_entries": sum(r["unresolved_entries"] for r in records),
        },
        "worst": [dict(r, worst=worst(r)) for r in ranked[:5]],
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
        "network": {"widths": list(spec.widths), "activations": list(spec.activations)},
        "loss": spec.loss,
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
    from reference.autodiff import computing_in
    from reference.fd import finite_differences
    from reports.bench import _mlp, _seconds, jitted_gradients

    widths = (16, width, width, 1)
    spec, params, X, Y = _mlp(widths, ("tanh", "tanh", "identity"), "square", 16)
    row: dict[str, Any] = {
        "widths": list(widths),
        "parameters": int(sum(W.size + b.size for W, b in params)),
        "manual_numpy_s": _seconds(lambda: manual.gradients(params, X, Y, spec), 5),
    }
    with computing_in(np.float64):
        jparams = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
        jX, jY = jnp.asarray(X), jnp.asarray(Y)
        ours, theirs = jitted_gradients(spec)
        for label, fn in (("manual_jit_s", ours), ("jax_grad_jit_s", theirs)):
            jax.block_until_ready(fn(jparams, jX, jY))  # compile outside the timing
            row[label] = _seconds(lambda fn=fn: jax.block_until_ready(fn(jparams, jX, jY)), 5)
    finite_differences(params, X, Y, spec)  # wide layers run compiled: compile outside the timing
    row["finite_differences_s"] = _seconds(
        lambda: finite_differences(params, X, Y, spec), 1 if width >= 32 else 3
    )
    return row


def _timings(tick: Callable[[], None]) -> dict[str, Any]:
    """Each witness's time as the parameter count grows, and the fitted growth exponents."""
    from reports.bench import _exponent

    rows = []
    for width in (8, 16, 32, 64, 128):
        rows.append(_time_one(width))
        tick()
    sizes = [row["parameters"] for row in rows]
    methods = ("manual_numpy_s", "manual_jit_s", "jax_grad_jit_s", "finite_differences_s")
    return {
        "network": "16-w-w-1, tanh, tanh, identity, square loss",
        "batch": 16,
        "dtype": "float64",
        "sizes": rows,
        "exponents": {m: _exponent(sizes, [row[m] for row in rows]) for m in methods},
    }


# --- figures -------------------------------------------------------------------------------------

_COLOURS = {"candidate_vs_jax": "#1b6ca8", "candidate_vs_fd": "#d1495b", "jax_vs_fd": "#66a182"}
_FLOOR = 1e-18  # exact agreement (error 0) is drawn here on the log scales


def _labels(candidate: str, short: bool = False) -> dict[str, str]:
    fd = "FD" if short else "finite differences"
    jax = "jax" if short else "jax.grad"
    return {
        "candidate_vs_jax": f"{candidate} – {jax}",
        "candidate_vs_fd": f"{candidate} – {fd}",
        "jax_vs_fd": f"{jax} – {fd}",
    }


def _png(figure: Any) -> bytes:
    """The figure as PNG bytes, drawn by the Agg backend (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attaches itself as the figure's canvas
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _logged(values: list[float | None]) -> np.ndarray:
    present = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    return np.log10(np.maximum(present, _FLOOR))


def _figure_sweep(data: dict[str, Any], labels: dict[str, str]) -> bytes:
    from matplotlib.figure import Figure

    records = data["sweep"]["records"]
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    axes = figure.subplots()
    bins = np.arange(-18.5, 1.5, 0.5)
    for pair, style in zip(PAIRS, ("-", "--", ":"), strict=True):
        values = [r["errors"][pair] for r in records]
        exact = sum(v == 0 for v in values)
        axes.hist(
            _logged(values),
            bins=bins,
            histtype="step",
            linewidth=2.0,
            linestyle=style,
            color=_COLOURS[pair],
            label=f"{labels[pair]} ({exact} exact)",
        )
    axes.set_xlabel("log10 normwise relative error (exact agreement drawn at -18)")
    axes.set_ylabel("cases")
    axes.set_title(f"Pairwise errors over {len(records)} random architectures")
    axes.legend(loc="upper left", fontsize=8)
    return _png(figure)


def _figure_groups(data: dict[str, Any], labels: dict[str, str]) -> bytes:
    from matplotlib.figure import Figure

    records = data["sweep"]["records"]
    groups = data["sweep"]["by"]
    figure = Figure(figsize=(9, 9), layout="constrained")
    axes = figure.subplots(3, 1)
    for ax, (kind, belongs) in zip(axes, _BELONGS.items(), strict=True):
        keys = list(groups[kind])
        for offset, pair in zip((-0.25, 0.0, 0.25), PAIRS, strict=True):
            series = [_logged([r["errors"][pair] for r in records if belongs(r, k)]) for k in keys]
            positions = [i + offset for i in range(len(keys))]
            shown = [(p, s) for p, s in zip(positions, series, strict=True) if s.size]
            if not shown:
                continue
            parts = ax.boxplot(
                [s for _, s in shown],
                positions=[p for p, _ in shown],
                widths=0.22,
                patch_artist=True,
                showfliers=True,
                flierprops={"markersize": 2},
            )
            for box in parts["boxes"]:
                box.set_facecolor(_COLOURS[pair])
                box.set_alpha(0.6)
            ax.plot([], [], color=_COLOURS[pair], linewidth=6, alpha=0.6, label=labels[pair])
        ax.set_xticks(range(len(keys)), keys, fontsize=8)
        ax.set_ylabel("log10 error")
        ax.set_title(f"by {kind}", fontsize=10)
        ax.set_ylim(-19, 1)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=3)
    return _png(figure)


def _figure_fd_steps(data: dict[str, Any]) -> bytes:
    from matplotlib.figure import Figure

    study = data["finite_difference_steps"]
    steps = np.array(study["steps"])
    figure = Figure(figsize=(9, 4.2), layout="constrained")
    axes = figure.subplots()
    for dtype, style in (("float64", "-"), ("float32", "--")):
        for key, colour, name in (
            ("central", "#d1495b", "central difference D(h)"),
            ("richardson", "#1b6ca8", "Richardson from h, h/2, h/4"),
        ):
            values = np.maximum(study[dtype][key], _FLOOR)
            axes.loglog(steps, values, style, color=colour, label=f"{name}, {dtype}")
    axes.loglog(
        steps,
        np.maximum(study["float64"]["estimate"], _FLOOR),
        ":",
        color="#444444",
        label="error estimate, float64",
    )
    chosen = study["chosen"]
    axes.axvline(chosen["step"], color="#66a182", linewidth=1.5)
    axes.plot(
        [chosen["step"]],
        [max(chosen["error"], _FLOOR)],
        "o",
        color="#66a182",
        label=f"chosen step 2^{round(math.log2(chosen['step']))}",
    )
    axes.set_xlabel("step h")
    axes.set_ylabel("relative error")
    axes.set_title(f"Finite-difference error against step, {study['entry']}")
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(figure)


def _figure_timings(data: dict[str, Any]) -> bytes:
    from matplotlib.figure import Figure

    timing = data["timings"]
    sizes = [row["parameters"] for row in timing["sizes"]]
    names = {
        "manual_numpy_s": "manual, NumPy eager",
        "manual_jit_s": "manual, jitted",
        "jax_grad_jit_s": "jax.grad, jitted",
        "finite_differences_s": "finite differences, every entry",
    }
    figure = Figure(figsize=(9, 4.2), layout="constrained")
    axes = figure.subplots()
    for method, name in names.items():
        exponent = timing["exponents"][method]
        axes.loglog(
            sizes,
            [row[method] for row in timing["sizes"]],
            "o-",
            label=f"{name} (P^{exponent:.2f})",
        )
    axes.set_xlabel("parameters P")
    axes.set_ylabel("seconds")
    axes.set_title("Cost against parameter count (16-w-w-1, batch 16, float64)")
    axes.legend(fontsize=8)
    return _png(figure)


def _figures(data: dict[str, Any]) -> dict[str, bytes]:
    labels = _labels(data["verdict"]["candidate_label"])
    return {
        "sweep": _figure_sweep(data, labels),
        "sweep_groups": _figure_groups(data, labels),
        "fd_steps": _figure_fd_steps(data),
        "timings": _figure_timings(data),
    }


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
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1e-3 and abs(value) < 1e5:
        return f"{value:.{digits + 3}g}"
    return f"{value:.{digits}g}"


def _notation(text: Any) -> Any:
    """Lecture notation for HTML: ``W^(2)_13`` as W<sup>(2)</sup><sub>13</sub>, ``x_1`` as
    x<sub>1</sub>; everything else escaped."""
    import re

    from markupsafe import Markup, escape

    html = str(escape(text))
    html = re.sub(r"\^\((\d+)\)", r"<sup>(\1)</sup>", html)
    html = re.sub(r"(?<=[A-Za-z>])_([0-9,]+)", r"<sub>\1</sub>", html)
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
    environment.filters["notation"] = _notation
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
    return template.render(
        data=data,
        figures=sources,
        pairs=PAIRS,
        labels=_labels(data["verdict"]["candidate_label"]),
        short=_labels(data["verdict"]["candidate_label"], short=True),
    )


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float made null (JSON has no infinity), NumPy scalars
    made Python numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, np.generic):
        return json_ready(value.item())
    return value


# --- the whole run -------------------------------------------------------------------------------


def build(
    out: str | os.PathLike[str] = DEFAULT_OUT,
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    implementation: Callable | None = None,
    name: str | None = None,
    progress: bool = True,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure everything and write ``report.html``, ``report.md`` (+ ``figures/``) and
    ``report.json`` into ``out``; returns the JSON's content.

    ``implementation`` (default ``manual.gradients``) is the one checked in the sweep and the
    verdict; the lecture's exercises always show the hand-written backprop. ``options``: the
    scope and conventions of ``reference.harness.check`` for the sweep.
    """
    from tqdm import tqdm

    import manual
    from reference.harness import check

    if implementation is None:
        implementation, name = manual.gradients, name or "manual:gradients"
    name = name or getattr(implementation, "__qualname__", "implementation")
    directory = Path(out)
    figure_dir = directory / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    phases: dict[str, float] = {}
    bar = tqdm(
        total=examples + 9,
        desc="backprop-verify report",
        unit="step",
        disable=None if progress else True,  # None: only on a terminal, not in logs
        file=sys.stderr,
        leave=False,
    )
    with bar:
        clock = time.perf_counter()
        lecture = _lecture()
        phases["lecture_examples_s"] = time.perf_counter() - clock
        bar.update(1)

        records: list[dict[str, Any]] = []

        def observe(case: Any, result: Any) -> None:
            records.append(_case_record(len(records) + 1, case, result))
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
            **(options or {}),
        )
        phases["sweep_s"] = time.perf_counter() - clock
        bar.update(examples - len(records))
        bar.set_postfix_str("step study")
        clock = time.perf_counter()
        steps = _fd_steps()
        phases["finite_difference_steps_s"] = time.perf_counter() - clock
        bar.update(1)
        bar.set_postfix_str("timings")
        clock = time.perf_counter()
        timings = _timings(lambda: bar.update(1))
        phases["timings_s"] = time.perf_counter() - clock
        sweep = _sweep(records)
        agrees = found.ok and lecture["exercise_2"]["agrees"] and lecture["exercise_1"]["agrees"]
        data: dict[str, Any] = {
            "environment": _environment(name, found.examples, seed),
            "lecture_examples": lecture,
            "sweep": sweep,
            "finite_difference_steps": steps,
            "timings": timings,
            "verdict": {
                "verdict": "pass" if agrees else "fail",
                "implementation": name,
                "candidate_label": "manual" if name == "manual:gradients" else name,
                "examples": found.examples,
                "failing_cases": sum(not record["ok"] for record in records),
                "first_failure": found.failed_at,
                "lecture_agrees": lecture["exercise_2"]["agrees"]
                and lecture["exercise_1"]["agrees"],
                "worst": {pair: sweep["summary"][pair]["max"] for pair in PAIRS},
                "check": found.as_json(),
                "failure": None if found.ok else found.render(),
                "diagnosis": None if found.diagnosis is None else found.diagnosis.lines(),
            },
        }
        bar.set_postfix_str("figures")
        clock = time.perf_counter()
        figures = _figures(data)
        for figure_name, png in figures.items():
            (figure_dir / f"{figure_name}.png").write_bytes(png)
        phases["figures_s"] = time.perf_counter() - clock
        bar.update(1)
        phases["total_s"] = time.perf_counter() - started
        timings["report_phases"] = phases
        (directory / "report.json").write_text(
            json.dumps(json_ready(data), indent=1, allow_nan=False) + "\n", encoding="utf-8"
        )
        (directory / "report.md").write_text(_render(data, figures, "md"), encoding="utf-8")
        (directory / "report.html").write_text(_render(data, figures, "html"), encoding="utf-8")
        bar.update(1)
    return data
