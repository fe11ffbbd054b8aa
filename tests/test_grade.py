"""``backprop-verify grade`` on a class written for it (tests/classroom): correct submissions in
several styles, one of each kind of mistake, and hostile ones. Every submission's lost items are
asserted: a bug costs the items of the part it breaks and no others.

The default suite grades a cross-section of the class; ``pytest -m slow`` grades all of it."""

from __future__ import annotations

import csv
import json
import pathlib

import pytest
from browser import browser, probe_page

from reports.cli import main

CLASS = pathlib.Path(__file__).resolve().parent / "classroom"
EVERY = frozenset({"*"})  # every item: the submission could not be graded

#: Each submission of the class: the items it must lose.
LOSES = {
    "correct_vectorised": set(),
    "correct_loops": set(),
    "correct_lists": set(),
    "correct_jax": set(),
    "z_instead_of_a": {"formula-3"},
    "weight_decay": {"formula-3"},
    "bias_from_dA": {"formula-4"},
    "forgot_g_prime": {"formulas-1-2"},
    "far_layers": {"formulas-1-2"},
    "output_g_prime_skipped": {"output-layer"},
    "ascent": {"output-layer"},
    "sigmoid_prime_of_z": {"activation-sigmoid"},
    "tanh_prime_unsquared": {"activation-tanh"},
    "softplus_prime_sign": {"activation-softplus"},
    "leaky_slope": {"activation-leaky_relu"},
    "square_without_2": {"loss-square"},
    "logistic_without_sigmoid": {"loss-logistic"},
    "softmax_sign": {"loss-softmax_cross_entropy"},
    "output_loss_as_h": {"loss-output"},
    "bias_mean": {"batch"},
    "missing_1_over_n": {"batch"},
    "stateful": {"determinism"},
    "unshifted_softmax": {"robustness"},
    "hostile_import": EVERY,
    "hostile_prints": EVERY,
    "hostile_exit": EVERY,
    "hostile_os_exit": EVERY,
    "hostile_loops": EVERY,
    "hostile_allocates": EVERY,
}

#: Why each hostile submission got 0, in words the grader must give.
REASONS = {
    "hostile_import": "RuntimeError: half done",
    "hostile_prints": "File too large",
    "hostile_exit": "SystemExit",
    "hostile_os_exit": "ended the grading process (exit status 0)",
    "hostile_loops": "ran past its time limit",
    "hostile_allocates": "MemoryError",
}

#: The cross-section the default suite grades: each style, kind of mistake and hostility once.
SECTION = [
    "correct_loops",
    "correct_lists",
    "bias_from_dA",
    "sigmoid_prime_of_z",
    "ascent",
    "stateful",
    "hostile_import",
    "hostile_os_exit",
]

#: Gradescope's documented keys of results.json and of each test.
GRADESCOPE = {
    "score",
    "max_score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
GRADESCOPE_TEST = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}


def grade(names: list[str], out: pathlib.Path, *args: str) -> int:
    files = [str(CLASS / f"{name}.py") for name in names]
    return main(["grade", *files, "--out", str(out), "--jobs", "2", "--quiet", *args])


def lost(out: pathlib.Path) -> dict[str, set[str]]:
    with open(out / "grades.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    return {
        row["submission"]: {
            k for k, v in row.items() if k not in ("submission", "total") and v == "0"
        }
        for row in rows
    }


def check_class(out: pathlib.Path, names: list[str]) -> None:
    found = lost(out)
    assert list(found) == names  # in the order given
    items = set(next(iter(_rows(out)))) - {"submission", "total"}
    for name in names:
        expected = items if LOSES[name] is EVERY else LOSES[name]
        assert found[name] == expected, name
        results = json.loads((out / name / "results.json").read_text())
        if LOSES[name] is EVERY:
            assert results["score"] == 0
            assert REASONS[name] in results["output"] + "".join(
                t["output"] for t in results["tests"]
            )


def _rows(out: pathlib.Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def section(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("grades")
    assert grade(SECTION, out) == 0  # every submission graded, whatever its score
    return out


def test_each_submission_loses_exactly_the_items_of_its_mistake(section):
    check_class(section, SECTION)


@pytest.mark.slow
def test_the_whole_class(tmp_path):
    names = list(LOSES)
    assert len(names) >= 20
    assert grade(names, tmp_path) == 0
    check_class(tmp_path, names)


def test_results_json_is_gradescopes(section):
    for name in SECTION:
        results = json.loads((section / name / "results.json").read_text())
        assert set(results) <= GRADESCOPE
        assert {"score", "tests"} <= set(results)
        assert isinstance(results["score"], float | int)
        assert results["score"] == sum(t["score"] for t in results["tests"])
        for test in results["tests"]:
            assert set(test) <= GRADESCOPE_TEST
            assert isinstance(test["name"], str)
            assert isinstance(test["output"], str)
            assert 0 <= test["score"] <= test["max_score"]
            assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")


def test_a_lost_item_says_what_was_checked_the_counterexample_and_the_diagnosis(section):
    results = json.loads((section / "bias_from_dA" / "results.json").read_text())
    [formula_4] = [t for t in results["tests"] if t["name"].startswith("formula-4")]
    assert formula_4["score"] == 0
    text = formula_4["output"]
    assert "Checked:" in text
    assert "FAIL: wrong values" in text
    assert "formula 4" in text
    assert "Reproduce it:" in text


def test_the_csv_holds_a_column_per_item_and_the_total(section):
    rows = _rows(section)
    assert [row["submission"] for row in rows] == SECTION
    for row in rows:
        points = [float(v) for k, v in row.items() if k not in ("submission", "total")]
        assert float(row["total"]) == sum(points)
    full = {row["submission"]: float(row["total"]) for row in rows}
    assert full["correct_loops"] == full["correct_lists"] == 100


def test_the_class_report_ranks_the_mistakes_and_shows_every_submission(section):
    html = (section / "class.html").read_text(encoding="utf-8")
    for name in SECTION:
        assert f"<strong>{name}</strong>" in html
    assert "1 of 8" in html  # each mistake of the section is one submission's
    assert html.count("<details") == len(SECTION)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_class_report_in_headless_chromium(section, width, tmp_path):
    browser()
    html = (section / "class.html").read_text(encoding="utf-8")
    result = probe_page(html, tmp_path, width)
    assert result["errors"] == []
    assert result["resources"] == []  # self-contained: the histogram is embedded
    assert len(result["images"]) == 1
    assert all(image["complete"] and image["naturalWidth"] > 0 for image in result["images"])
    assert result["innerWidth"] == width
    assert result["scrollWidth"] <= result["innerWidth"]
    assert result["unreachable"] == []
    assert result["tablesOutside"] == 0


def test_the_same_seed_gives_the_same_files(tmp_path):
    names = ["correct_lists", "square_without_2"]
    first, second = tmp_path / "first", tmp_path / "second"
    assert grade(names, first) == 0
    assert grade(names, second) == 0
    for path in ("grades.csv", "class.html", *(f"{n}/results.json" for n in names)):
        assert (first / path).read_bytes() == (second / path).read_bytes(), path
    assert lost(first) == {"correct_lists": set(), "square_without_2": {"loss-square"}}


def test_a_rubric_sets_the_points_and_leaves_out_zeroes(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[points]\n"loss-square" = 20\nrobustness = 0\n')
    assert grade(["square_without_2"], tmp_path / "out", "--rubric", str(rubric)) == 0
    results = json.loads((tmp_path / "out" / "square_without_2" / "results.json").read_text())
    names = [t["name"].split(":")[0] for t in results["tests"]]
    assert "robustness" not in names
    [square] = [t for t in results["tests"] if t["name"].startswith("loss-square")]
    assert (square["score"], square["max_score"]) == (0, 20)
    assert results["max_score"] == 100 - 3 + 20 - 5


def test_submissions_in_other_conventions_are_graded_in_them(tmp_path):
    # Nielsen's network.py: W as (n_l, n_{l-1}), examples as columns, b as a column
    files = [str(CLASS / "nielsen" / f"{n}.py") for n in ("correct_nielsen", "bias_mean_nielsen")]
    flags = ["--layout", "out-in", "--examples-as", "columns", "--bias", "column"]
    assert main(["grade", *files, "--out", str(tmp_path), "--quiet", "--jobs", "2", *flags]) == 0
    assert lost(tmp_path) == {"correct_nielsen": set(), "bias_mean_nielsen": {"batch"}}
    results = json.loads((tmp_path / "bias_mean_nielsen" / "results.json").read_text())
    [batch] = [t for t in results["tests"] if t["name"].startswith("batch")]
    assert "it is averaged over the batch instead of summed" in batch["output"]
    assert "from bias_mean_nielsen import gradients" in batch["output"]  # its snippet runs it
