"""``backprop-verify report``: its three files, what they hold, and the page in a real browser."""

from __future__ import annotations

import ast
import contextlib
import datetime
import io
import json
import math
import os
import pathlib
import re
import subprocess

import pytest
from browser import browser, headless, probe_page

from reports.cli import main
from reports.report import PAIRS, json_text

KEYS = {
    "environment",
    "lecture_examples",
    "sweep",
    "finite_difference_steps",
    "timings",
    "verdict",
    "phases",
}


@pytest.fixture(scope="module")
def passing(tmp_path_factory):
    """The report on manual.gradients, small sweep, written once for the module."""
    out = tmp_path_factory.mktemp("report")
    status = main(["report", "--out", str(out), "--examples", "40", "--seed", "3", "--quiet"])
    return status, out


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """The report on a backprop that averages the bias gradient instead of summing it."""
    out = tmp_path_factory.mktemp("buggy")
    status = main(
        ["report", "--out", str(out), "--examples", "16", "--impl", "mutants:bias_mean", "--quiet"]
    )
    return status, out


@pytest.fixture(scope="module")
def raising(tmp_path_factory):
    """The report on an implementation that raises on tanh networks, in a declared scope (the
    batch size), without timings."""
    out = tmp_path_factory.mktemp("raising")
    args = ["--examples", "12", "--impl", "mutants:raises_on_tanh", "--batch", "1-8", "--no-timing"]
    status = main(["report", "--out", str(out), "--quiet", *args])
    return status, out


def _strict(constant):
    raise ValueError(f"{constant} is not JSON")


def load(out):
    return json.loads((out / "report.json").read_text(encoding="utf-8"), parse_constant=_strict)


def test_report_writes_three_files_with_the_documented_keys(passing):
    status, out = passing
    assert status == 0
    assert {p.name for p in out.iterdir()} >= {"report.html", "report.md", "report.json"}
    data = load(out)
    assert set(data) == KEYS
    assert data["verdict"]["verdict"] == "pass"
    assert data["environment"]["seed"] == 3
    assert set(data["environment"]["versions"]) >= {"jax", "jaxlib", "numpy", "hypothesis"}
    assert data["sweep"]["cases"] == len(data["sweep"]["records"]) == 40
    assert set(data["sweep"]["by"]) == {"activation", "loss", "depth", "widest_band"}
    assert set(data["verdict"]["worst_errors"]) == set(PAIRS)
    assert set(data["verdict"]["worst_ratios"]) == set(PAIRS)
    created = datetime.datetime.fromisoformat(data["environment"]["created"])
    assert created.utcoffset() == datetime.timedelta(0)


def test_html_is_self_contained_with_embedded_figures(passing):
    _, out = passing
    html = (out / "report.html").read_text(encoding="utf-8")
    figures = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', html)
    assert len(figures) >= 2
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert sources
    assert all(s.startswith(("data:", "#")) for s in sources), sorted(set(sources))
    assert "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(?!data:)", html)


def test_markdown_points_at_figures_beside_it(passing):
    _, out = passing
    markdown = (out / "report.md").read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(linked) >= 2
    for path in linked:
        assert (out / path).stat().st_size > 1000, path
    assert "| manual – jax |" in markdown


def test_lecture_exercises_in_the_report(passing):
    lecture = load(passing[1])["lecture_examples"]
    exercise_2 = lecture["exercise_2"]
    assert exercise_2["agrees"]
    by_name = {row["quantity"]: row for row in exercise_2["backward"]}
    # by hand (tests/test_lecture.py): ∂H/∂W^(2)_12 = -12, ∂H/∂W^(1)_11 = 8
    for name, value in (("∂H/∂W^(2)_12", -12.0), ("∂H/∂W^(1)_11", 8.0)):
        assert by_name[name]["manual"] == by_name[name]["jax"] == value
        assert abs(by_name[name]["fd"] - value) <= by_name[name]["fd_error"]
    exercise_1 = lecture["exercise_1"]
    assert exercise_1["z1_1"] == -20
    assert exercise_1["answer"] == 0
    assert len(exercise_1["completions"]) == 3
    assert exercise_1["agrees"]


def test_step_study_shows_truncation_and_rounding(passing):
    study = load(passing[1])["finite_difference_steps"]
    steps, central = study["steps"], study["float64"]["central"]
    best = min(range(len(steps)), key=central.__getitem__)
    # the V: the best step is interior, and errors grow on both sides of it
    assert 0 < best < len(steps) - 1
    assert central[0] > 100 * central[best]
    assert central[-1] > 100 * central[best]
    assert min(study["float64"]["richardson"]) < min(central)  # Richardson gains
    assert min(study["float32"]["central"]) > 100 * min(central)  # float32 cannot do as well
    chosen = study["chosen"]
    assert chosen["error"] <= chosen["estimate"] < 1e-6


def test_timings_cover_growing_sizes_and_every_method(passing):
    timings = load(passing[1])["timings"]
    sizes = [row["parameters"] for row in timings["sizes"]]
    assert sizes == sorted(sizes)
    assert len(sizes) >= 4
    assert set(timings["exponents"]) == {
        "manual_numpy_s",
        "manual_jit_s",
        "jax_grad_jit_s",
        "finite_differences_s",
    }
    assert all(math.isfinite(value) for value in timings["exponents"].values())
    assert all(row[key] > 0 for row in timings["sizes"] for key in timings["exponents"])


def test_sweep_counts_kinks_apart(passing):
    sweep = load(passing[1])["sweep"]
    kinked = [r for r in sweep["records"] if r["kink_entries"]]
    assert sweep["kinks"]["entries"] == sum(r["kink_entries"] for r in kinked)
    assert sweep["kinks"]["candidate_outside"] == 0
    assert all(set(r["activations"]) & {"relu", "leaky_relu"} for r in kinked)


def test_a_buggy_implementation_shows_its_counterexample_and_diagnosis(failing):
    status, out = failing
    assert status == 1
    verdict = load(out)["verdict"]
    assert verdict["verdict"] == "fail"
    assert verdict["failing_cases"] >= 1
    counterexample = verdict["check"]["counterexample"]
    assert counterexample["mismatches"][0]["param"] == "b"
    assert any("formula 4" in line for line in verdict["diagnosis"])
    assert any("averaged over the batch" in line for line in verdict["diagnosis"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "averaged over the batch instead of summed" in html
    assert "Reproduce it" in html
    assert "from mutants import bias_mean" in html
    assert "averaged over the batch instead of summed" in (out / "report.md").read_text()
    # failure first: the verdict, its kind and diagnosis come before the lecture's exercises
    assert html.index("Diagnosis") < html.index('id="lecture"') < html.index('id="glance"')
    assert verdict["kind"] == "wrong_values"
    assert verdict["failed_at"] == verdict["check"]["failed_at"]
    failing = [r for r in load(out)["sweep"]["records"] if not r["ok"]]
    assert len(failing) == verdict["failing_cases"]
    assert html.count('class="failed"') >= 2 * len(failing)  # both tables, and the shrunk row
    assert 'href="#failing"' in html


# --- report.json: strict, documented key by key ---------------------------------------------------

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "docs", "report-json.md")
_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object"}


def documented_keys() -> dict[str, str]:
    """The documented report.json keys (docs/report-json.md): path pattern -> type."""
    text = pathlib.Path(SCHEMA).read_text(encoding="utf-8")
    block = text.split("<!-- report.json keys: checked by tests/test_report.py -->", 1)[1]
    block = block.split("```", 2)[1]
    keys = {}
    for line in block.strip().splitlines():
        found = re.match(r"(\S+)\s+(list of \S+|\S+)\s+", line)
        assert found, line
        keys[found.group(1)] = found.group(2)
    return keys


def _type(value) -> str:
    if isinstance(value, list):
        if not value:
            return "list"  # empty: any list type
        inner = {"list" if isinstance(item, list) else _type(item) for item in value}
        if inner <= {"integer", "number"} and inner != {"integer"}:
            inner = {"number"}
        return "list of " + inner.pop() if len(inner) == 1 else "list of mixed"
    return _TYPES[type(value)]


def _pattern(key: str) -> re.Pattern:
    parts = re.split(r"(<[a-z]+>)", key)
    regex = "".join("[^.]+" if part.startswith("<") else re.escape(part) for part in parts)
    return re.compile(regex + "$")


def found_keys(value, path: str, stops: list, out: dict) -> None:
    """Every leaf of ``value`` (lists of scalars and documented objects are leaves; the empty
    list of wrong exercise entries has none)."""
    if path.endswith("lecture_wrong") and value == []:
        return
    if path and (
        (isinstance(value, dict) and any(p.match(path) for p in stops))
        or not (
            isinstance(value, dict)
            or (isinstance(value, list) and value and isinstance(value[0], dict))
        )
    ):
        out.setdefault(path, set()).add(_type(value))
        return
    items = value.items() if isinstance(value, dict) else [("[]", item) for item in value]
    for key, item in items:
        found_keys(item, f"{path}{key}" if key == "[]" else f"{path}.{key}".lstrip("."), stops, out)


def _lectures():
    """The lecture sections of a wrong implementation, inside and outside its scope."""
    from mutants import forgot_g_prime

    from reports.measure import Subject, lecture

    return [
        lecture(Subject(forgot_g_prime, "mutants:forgot_g_prime", {})),
        lecture(Subject(forgot_g_prime, "mutants:forgot_g_prime", {"depth": "1-2"})),
    ]


def test_the_readme_documents_every_key_of_report_json_and_no_other(
    passing, failing, raising, forgetful
):
    documented = documented_keys()
    patterns = {key: _pattern(key) for key in documented}
    stops = [patterns[k] for k, kind in documented.items() if kind in ("object", "any")]
    found: dict[str, set] = {}
    for out in (passing[1], failing[1], raising[1], forgetful[1]):
        found_keys(load(out), "", stops, found)
    for lecture in _lectures():
        found_keys(json.loads(json_text({"lecture_examples": lecture})), "", stops, found)
    matched = set()
    for path, kinds in found.items():
        keys = sorted(
            (key for key, pattern in patterns.items() if pattern.match(path)),
            key=lambda key: key.count("<"),
        )
        assert keys, f"report.json has {path}, which docs/report-json.md does not document"
        key = keys[0]
        matched.add(key)
        want = documented[key]
        if want != "any":
            allowed = {want, "list"} | ({"integer"} if want == "number" else set())
            assert kinds <= allowed, (path, kinds)
    assert set(documented) - matched == set(), "documented but never written"


def test_report_json_is_strict_and_every_ratio_field_sorts(passing, failing, raising):
    for _, out in (passing, failing, raising):
        text = (out / "report.json").read_text(encoding="utf-8")
        data = json.loads(text, parse_constant=_strict)
        ratios: dict[str, list] = {}

        def collect(value, path="", ratios=ratios):
            if isinstance(value, dict):
                for key, item in value.items():
                    here = f"{path}.{key}"
                    if re.search(r"(^|_)ratio(_|$)", key) and not isinstance(item, dict):
                        ratios.setdefault(re.sub(r"\.\d+", "", here), []).append(item)
                    collect(item, here)
            elif isinstance(value, list):
                for item in value:
                    collect(item, path)

        collect(data)
        assert ratios
        for values in ratios.values():
            assert sorted(values) == sorted(values, key=float)  # numbers only, never null


def test_an_infinite_number_is_a_json_number_that_reads_back_infinite():
    text = json_text({"ratio": math.inf, "low": -math.inf, "nan": math.nan, "s": "Infinity"})
    assert json.loads(text, parse_constant=_strict) == {
        "ratio": math.inf,
        "low": -math.inf,
        "nan": None,
        "s": "Infinity",
    }
    assert "1e999" in text
    assert "-1e999" in text


def test_the_exercises_show_the_implementation_under_check_and_judge_it():
    inside, outside = _lectures()
    exercise_2 = inside["exercise_2"]
    rows = {row["quantity"]: row for row in exercise_2["backward"]}
    # forgetting g' at the hidden layers: ∂H/∂z^(1) = ∂H/∂a^(1) = (4, -2) with x = (2, 1), so
    # ∂H/∂W^(1)_12 = x_1 (-2) = -4 and ∂H/∂b^(1)_2 = -2, where relu'(z^(1)_2 = -5) = 0 gives 0
    assert rows["∂H/∂W^(1)_12"]["candidate"] == -4.0
    assert rows["∂H/∂b^(1)_2"]["candidate"] == -2.0
    assert rows["∂H/∂W^(1)_12"]["manual"] == rows["∂H/∂b^(1)_2"]["manual"] == 0.0
    assert not rows["∂H/∂W^(1)_12"]["candidate_agrees"]
    assert rows["∂H/∂W^(3)_11"]["candidate_agrees"]  # the last layer needs no hidden g'
    assert exercise_2["candidate_wrong"] == 3
    assert not exercise_2["agrees"]
    assert "∂H/∂a^(1)_1" in rows
    assert "candidate" not in rows["∂H/∂a^(1)_1"]
    exercise_1 = inside["exercise_1"]
    assert not exercise_1["agrees"]
    assert all(item["dH_dW1_11"]["candidate"] != 0 for item in exercise_1["completions"])
    # depth 1-2 declared: exercise 2 (depth 3) and one completion (depth 3) are not judged
    assert not outside["exercise_2"]["judged"]
    assert "outside the declared scope" in outside["exercise_2"]["not_judged_because"]
    judged = [item["judged"] for item in outside["exercise_1"]["completions"]]
    assert judged == [True, False, True]


@pytest.fixture(scope="module")
def forgetful(tmp_path_factory):
    """The report on a backprop that forgets g' in the hidden layers (wrong on exercise 2),
    without timings, and the line the command printed."""
    out = tmp_path_factory.mktemp("forgetful")
    args = ["--examples", "6", "--impl", "mutants:forgot_g_prime", "--no-timing", "--quiet"]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        status = main(["report", "--out", str(out), *args])
    return status, out, printed.getvalue().splitlines()[0]


def test_the_summary_line_says_what_passed_and_what_failed(forgetful):
    status, out, line = forgetful
    assert status == 1
    data = load(out)
    failing = data["verdict"]["failing_cases"]
    assert line.startswith(f"FAIL: mutants:forgot_g_prime: {failing} of 6 random cases fail")
    assert "exercise 2: 3 of 15 gradient entries wrong; exercise 1 wrong." in line
    assert "timings" not in data
    assert "timings_s" not in data["phases"]
    # the first screen names the wrong exercise entries: ∂H/∂W^(1)_12 = -4, not 0
    wrong = {item["quantity"]: item for item in data["verdict"]["lecture_wrong"]}
    assert wrong["∂H/∂W^(1)_12"]["got"] == -4.0
    assert wrong["∂H/∂W^(1)_12"]["expected"] == 0.0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.index("= -4</span> (not 0)") < html.index("Diagnosis")


def test_the_markdown_has_real_headers_counts_and_a_runnable_snippet(failing):
    markdown = (failing[1] / "report.md").read_text(encoding="utf-8")
    verdict = load(failing[1])["verdict"]
    assert f"on {verdict['failing_cases']} of {verdict['examples']} random cases" in markdown
    for header in re.findall(r"^(\|.*\|)\n\|[-:|]+\|$", markdown, re.M):
        assert all(cell.strip() for cell in header.strip("|").split("|")), header
    snippet = re.search(r"```python\n(.*?)```", markdown, re.S).group(1)
    ast.parse(snippet)  # pasted as it is, it parses: no indentation from the page
    assert snippet.startswith("import numpy as np")
    assert "W^(" not in markdown.split("## The lecture", 1)[1].split("## Sweep")[0]
    assert "W⁽¹⁾₁₁" in markdown


def test_each_cases_command_checks_that_case_alone(failing, capsys):
    records = load(failing[1])["sweep"]["records"]
    for record in (next(r for r in records if not r["ok"]), next(r for r in records if r["ok"])):
        words = record["reproduce"].split()
        assert words[:2] == ["backprop-verify", "check"]
        assert main(words[1:]) == (0 if record["ok"] else 1)
        assert ": 1 random case" in capsys.readouterr().out


def test_a_timing_is_a_loop_long_enough_to_measure():
    from reports.bench_timing import per_call_seconds

    calls = []
    seconds = per_call_seconds(lambda: calls.append(1), least=0.01, repeat=2)
    assert len(calls) > 1000  # a call of well under a microsecond is looped
    assert 0 < seconds < 1e-4


def status_of(args: list[str]) -> int:
    """The exit status of ``backprop-verify ARGS``, whether argparse exits or main returns."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code)


def test_report_into_a_file_is_a_usage_error(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("")
    assert status_of(["report", "--out", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a directory" in err
    assert err.count("\n") == 1


# --- the page in a real browser -------------------------------------------------------------------


@pytest.mark.parametrize("which", ["passing", "failing"])
@pytest.mark.parametrize("width", [1280, 390])
def test_report_renders_in_headless_chromium(which, width, request, tmp_path):
    found = browser()
    out = request.getfixturevalue(which)[1]
    result = probe_page((out / "report.html").read_text(encoding="utf-8"), tmp_path, width)
    page = result["page"]
    assert result["errors"] == []
    assert result["resources"] == []  # nothing fetched: every figure is embedded
    assert len(result["images"]) >= 2
    for image in result["images"]:
        assert image["complete"], image
        assert image["visible"], image
        assert min(image["naturalWidth"], image["naturalHeight"]) > 0, image
        assert min(image["width"], image["height"]) > 0, image
        assert image["naturalWidth"] >= 2 * min(image["width"], 720) - 1  # 2x: sharp on HiDPI
    assert result["innerWidth"] == width
    assert result["scrollWidth"] <= result["innerWidth"]  # the page itself never scrolls sideways
    assert result["unreachable"] == []  # what is wider than the screen scrolls in its own box
    assert result["clipped"] == []
    assert result["tablesOutside"] == 0
    tops = result["tops"]
    if which == "failing" and width == 1280:
        # the first screen (1280 x 800) holds the verdict, the diagnosis, the worst mismatch,
        # the counts by group and the link to every failing case; the exercises come after
        assert max(tops["badge"], tops["diagnosis"], tops["mismatch"], tops["failing"]) < 800
        assert tops["countsEnd"] <= 800
        assert tops["lecture"] > 800
    shot = f"--screenshot={tmp_path / 'first-screen.png'}"
    screenshot = headless(found, tmp_path, max(width, 500), 800, shot, page.as_uri())
    subprocess.run(screenshot, capture_output=True, timeout=180, check=False)
    assert (tmp_path / "first-screen.png").stat().st_size > 10_000


@pytest.mark.parametrize("which", ["passing", "failing"])
def test_report_prints_to_pdf(which, request, tmp_path):
    found = browser()
    out = request.getfixturevalue(which)[1]
    pdf = tmp_path / "report.pdf"
    command = headless(
        found,
        tmp_path,
        1280,
        800,
        f"--print-to-pdf={pdf}",
        "--no-pdf-header-footer",
        (out / "report.html").as_uri(),
    )
    subprocess.run(command, capture_output=True, timeout=180, check=False)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 3
