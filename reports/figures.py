"""The report's figures, drawn by Matplotlib's Agg backend as PNG bytes."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from reports.measure import METHODS
from reports.sweep import BELONGS, PAIRS

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


def labels(candidate: str, short: bool = False) -> dict[str, str]:
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
        belongs = BELONGS[kind]
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


def figures(data: dict[str, Any]) -> dict[str, bytes]:
    import matplotlib

    names = labels(data["verdict"]["candidate_label"])
    with matplotlib.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 0.5}):
        drawn = {
            "sweep": _figure_sweep(data, names),
            "sweep_groups": _figure_groups(data, names),
            "fd_steps": _figure_fd_steps(data),
        }
        if "timings" in data:
            drawn["timings"] = _figure_timings(data)
    return drawn


def score_histogram(scores: list[float], max_score: float) -> bytes:
    """The class's scores, one bar per tenth of the maximum, as PNG bytes."""
    figure, (axes,) = _figure(2.6)
    edges = np.linspace(0, max_score, 11) if max_score > 0 else np.linspace(0, 1, 11)
    axes.hist(scores, bins=edges, color=OKABE_ITO["blue"], edgecolor="white")
    axes.set_xlabel(f"score (of {max_score:g})")
    axes.set_ylabel("submissions")
    axes.yaxis.get_major_locator().set_params(integer=True)
    return _png(figure)
