"""The report written out: numbers and notation for people, the templates, and strict JSON."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

from reports.figures import labels
from reports.measure import METHODS
from reports.sweep import PAIRS


def number(value: Any, digits: int = 3) -> str:
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


def ratio(pair: dict[str, Any] | None) -> str:
    """A pair's worst error/tolerance, readably: a number up to 10^6, else what was expected
    and what came."""
    if not pair:
        return "—"
    ratio = pair["ratio"]
    if ratio <= READABLE_RATIO:
        return number(ratio, 2)
    return f"expected {number(pair['expected'], 2)}, got {number(pair['got'], 2)}"


_SUPERSCRIPT = str.maketrans("0123456789()-,", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁻˒")
_SUBSCRIPT = str.maketrans("0123456789(),", "₀₁₂₃₄₅₆₇₈₉₍₎,")


def plain_notation(text: Any) -> str:
    """Lecture notation in Unicode, for Markdown: ``W^(2)_13`` as W⁽²⁾₁₃."""
    import re

    text = re.sub(r"\^\((\d+)\)", lambda m: f"({m.group(1)})".translate(_SUPERSCRIPT), str(text))
    letters = str.maketrans("ijk", "ᵢⱼₖ")
    text = re.sub(
        r"(?<=[A-Za-z⁾])_([ijk]{1,2})(?![A-Za-z])", lambda m: m.group(1).translate(letters), text
    )
    return re.sub(r"(?<=[A-Za-z⁾])_([0-9,]+)", lambda m: m.group(1).translate(_SUBSCRIPT), text)


def notation(text: Any) -> Any:
    """Lecture notation for HTML: ``W^(2)_13`` as W<sup>(2)</sup><sub>13</sub>, ``x_1`` as
    x<sub>1</sub>; everything else escaped."""
    import re

    from markupsafe import Markup, escape

    html = str(escape(text))
    html = re.sub(r"\^\((\d+)\)", r"<sup>(\1)</sup>", html)
    html = re.sub(r"(?<=[A-Za-z>])_([0-9,]+|[ijk]{1,2}(?![A-Za-z]))", r"<sub>\1</sub>", html)
    return Markup(html)


def templates() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = number
    environment.filters["ratio"] = ratio
    environment.filters["notation"] = notation
    environment.filters["plain"] = plain_notation
    return environment


def render(data: dict[str, Any], figures: dict[str, bytes], kind: str) -> str:
    template = templates().get_template(f"report.{kind}.j2")
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
        labels=labels(data["verdict"]["candidate_label"]),
        short=labels(data["verdict"]["candidate_label"], short=True),
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
