"""The sweep: one record per random case, each pair's errors and error/tolerance ratios, and
their summaries by group."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from reference.spec import ACTIVATIONS, LOSSES, arrays_of, lecture_name

#: The three pairs of witnesses, in the order every table and figure shows them.
PAIRS = ("candidate_vs_jax", "candidate_vs_fd", "jax_vs_fd")


def normwise(first: list, second: list, masks: list | None = None) -> float | None:
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


def worst(comparison: Any, keep: list) -> dict[str, Any]:
    """The entry of ``comparison`` with the largest |difference| / tolerance among those kept:
    the ratio, the entry's lecture name, the candidate's and the witness's values, the
    tolerance. Ratio 0 and no entry where nothing is kept."""
    best: dict[str, Any] = {"ratio": 0.0}
    for p, mask in zip(comparison.params, keep, strict=True):
        ratios = p.ratios()
        ratios = np.where(mask, np.where(np.isnan(ratios), np.inf, ratios), -1.0)
        if ratios.size == 0 or (ratios.max() <= best["ratio"] and "entry" in best):
            continue
        at = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
        if ratios[at] < 0:
            continue
        candidate, witness = p.values
        best = {
            "ratio": float(ratios[at]),
            "entry": lecture_name(p.param, p.layer, tuple(int(i) for i in at), p.shape),
            "got": float(candidate[at]),
            "expected": float(witness[at]),
            "tolerance": float(p.tolerances()[at]),
        }
    return best


def outside(comparison: Any, kink: list) -> int:
    """How many kink entries ``comparison`` found outside their one-sided interval."""
    return int(sum((p.bad & m).sum() for p, m in zip(comparison.params, kink, strict=True)))


def pair(error: float | None, worst: dict[str, Any]) -> dict[str, Any]:
    out = dict(worst)
    if error is not None:
        out["error"] = error
    return out


def case_record(index: int, draw: int, case: Any, result: Any, subject: Any, seed: int):
    """One swept case: its spec, each pair's normwise error and worst error/tolerance, kinks.

    Pairs with finite differences count the smooth entries (no kink in the stencil, judged);
    kink entries are counted apart, with how many fell outside their one-sided interval. A pair
    not computed (the candidate raised, say) is absent.
    """
    fd = result.fd
    unresolved, sampled = arrays_of(fd.unresolved), arrays_of(fd.sampled)
    unjudged = [u | ~s for u, s in zip(unresolved, sampled, strict=True)]
    kink = [k & ~u for k, u in zip(arrays_of(fd.kink), unjudged, strict=True)]
    smooth = [~(k | u) for k, u in zip(arrays_of(fd.kink), unjudged, strict=True)]
    every = [np.ones(m.shape, dtype=bool) for m in smooth]
    reference = arrays_of(result.reference.grads)
    fd_values = arrays_of(fd.gradients)
    pairs = {
        "jax_vs_fd": pair(
            normwise(reference, fd_values, smooth), worst(result.autodiff_vs_fd, smooth)
        )
    }
    beyond = {"jax": outside(result.autodiff_vs_fd, kink)}
    if result.candidate is not None and result.vs_autodiff is not None:
        candidate = arrays_of(result.candidate)
        pairs["candidate_vs_jax"] = pair(
            normwise(candidate, reference), worst(result.vs_autodiff, every)
        )
        pairs["candidate_vs_fd"] = pair(
            normwise(candidate, fd_values, smooth), worst(result.vs_fd, smooth)
        )
        beyond["candidate"] = outside(result.vs_fd, kink)
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
        "kink_entries_outside": beyond,
        "unresolved_entries": int(sum(u.sum() for u in unresolved)),
        "reproduce": subject.command(seed, draw),
    }
    if result.kind is not None:
        record["kind"] = result.kind
    if result.error is not None:
        record["error"] = result.error
    return record


def summary(records: list[dict[str, Any]], pair: str) -> dict[str, Any]:
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
WIDEST_BANDS = ((1, 4), (5, 8), (9, 16), (17, 48), (49, 10**9))


def band(width: int) -> str:
    for low, high in WIDEST_BANDS:
        if low <= width <= high:
            return f"{low}-{high}" if high < 10**9 else f"{low}+"
    raise ValueError(width)


BELONGS: dict[str, Callable[[dict, Any], bool]] = {
    "depth": lambda record, label: record["depth"] == label,
    "activation": lambda record, label: label in record["activations"],
    "loss": lambda record, label: record["loss"] == label,
    "widest_band": lambda record, label: band(record["widest"]) == label,
}


def labels_of(kind: str, records: list[dict[str, Any]]) -> list:
    if kind == "depth":
        return sorted({r["depth"] for r in records})
    if kind == "activation":
        return [a for a in ACTIVATIONS if any(a in r["activations"] for r in records)]
    if kind == "loss":
        return [loss for loss in LOSSES if any(r["loss"] == loss for r in records)]
    bands = {band(r["widest"]) for r in records}
    return [band(low) for low, _ in WIDEST_BANDS if band(low) in bands]


def groups(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per depth, activation, loss and widest layer: cases, failing cases, each pair's
    summary."""
    out = {}
    for kind, belongs in BELONGS.items():
        rows = []
        for label in labels_of(kind, records):
            members = [r for r in records if belongs(r, label)]
            rows.append(
                {
                    kind: label,
                    "cases": len(members),
                    "failing": sum(not r["ok"] for r in members),
                    "pairs": {pair: summary(members, pair) for pair in PAIRS},
                }
            )
        out[kind] = rows
    return out


def concentration(groups: dict[str, list[dict[str, Any]]], cases: int) -> list[str]:
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


def sweep(records: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted(records, key=lambda r: (r["ok"], -r["largest_ratio"]))
    return {
        "cases": len(records),
        "summary": {pair: summary(records, pair) for pair in PAIRS},
        "by": groups(records),
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
