"""``backprop-verify report``: its three files, what they hold, and the page in a real browser."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess

import pytest

from reports.cli import main
from reports.report import PAIRS

KEYS = {"environment", "lecture_examples", "sweep", "finite_difference_steps", "timings", "verdict"}


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


def load(out):
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


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
    assert set(data["sweep"]["by"]) == {"activation", "loss", "depth"}
    assert set(data["verdict"]["worst"]) == set(PAIRS)


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
    assert "| manual – jax.grad |" in markdown


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
    assert "Reproduce it:" in html
    assert "from mutants import bias_mean" in html
    assert "averaged over the batch instead of summed" in (out / "report.md").read_text()


def status_of(args: list[str]) -> int:
    """The exit status of ``backprop-verify ARGS``, whether argparse exits or main returns."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--impl", "no_such_module_here:f"], "no module named"),
        (["--impl", "reference"], "MODULE:FUNCTION"),
        (["--examples", "0"], "must be at least 1"),
        (["--seed", "-1"], "must not be negative"),
    ],
)
def test_report_usage_errors_are_one_line(args, message, capsys, tmp_path):
    assert status_of(["report", "--out", str(tmp_path), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_report_into_a_file_is_a_usage_error(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("")
    assert status_of(["report", "--out", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a directory" in err
    assert err.count("\n") == 1


# --- the page in a real browser -------------------------------------------------------------------

_CAPTURE = """
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || e));
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push(Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
})();
"""

_PROBE = """
window.addEventListener('load', function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    var style = getComputedStyle(img), box = img.getBoundingClientRect();
    return {alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth,
            naturalHeight: img.naturalHeight, width: box.width, height: box.height,
            visible: style.display !== 'none' && style.visibility !== 'hidden'};
  });
  var result = {errors: window.__errors, images: images, innerWidth: window.innerWidth,
                scrollWidth: document.documentElement.scrollWidth,
                resources: performance.getEntriesByType('resource').map(function (r) {
                  return r.name; })};
  var pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def test_report_renders_in_headless_chromium(passing, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("headless Chromium is missing; .ci/run installs Debian's chromium")
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    html = (passing[1] / "report.html").read_text(encoding="utf-8")
    assert html.count("<head>") == 1
    assert html.count("</body>") == 1
    probed = html.replace("<head>", f"<head><script>{_CAPTURE}</script>", 1).replace(
        "</body>", f"<script>{_PROBE}</script></body>", 1
    )
    page = tmp_path / "probed.html"
    page.write_text(probed, encoding="utf-8")
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--hide-scrollbars",
        "--virtual-time-budget=10000",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no probe result; exit {done.returncode}: {done.stderr[-2000:]}"
    result = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<"))
    assert result["errors"] == []
    assert result["resources"] == []  # nothing fetched: every figure is embedded
    assert len(result["images"]) >= 2
    for image in result["images"]:
        assert image["complete"], image
        assert image["visible"], image
        assert min(image["naturalWidth"], image["naturalHeight"]) > 0, image
        assert min(image["width"], image["height"]) > 0, image
    assert result["innerWidth"] == 1280
    assert result["scrollWidth"] <= result["innerWidth"]  # no horizontal scrolling
