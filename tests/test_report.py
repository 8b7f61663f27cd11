"""`mllbench report` (mllbench/report/html.py): a static site whose numbers are the leaderboard's.

Read back with html.parser, no browser (tests/test_report_browser.py opens it in
Chromium). Results come from real runs: the LOVM table benchmark on generated
LOVM-format tables (seconds, no torch) and the tiny image benchmark of conftest
(torch; per-image predictions, so intervals, ★/≈ marks and experiment plots).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from report_site import Page as Parsed, check_leaderboard, check_self_contained, leaderboard, per_model, read_page

from mllbench.report.leaderboard import board
from mllbench.report.html import MARKER, Page, render


@pytest.fixture
def lovm_base(lovm_table, tmp_path) -> list[str]:
    """Global options for `-b lovm` on generated tables and a fresh registry."""
    return ["-q", "-b", "lovm", "--lovm-dir", str(lovm_table), "--registry", str(tmp_path / "registry")]


def test_table_benchmark_report_is_the_leaderboard(cli, lovm_base, tmp_path):
    for args in (["-m", "inb"], ["-m", "modelgpt"], ["-m", "modelgpt", "-p", "target=raw"]):
        code, out = cli(*lovm_base, "run", *args)
        assert code == 0, out
    site = tmp_path / "site"
    code, out = cli(*lovm_base, "report", "--out", str(site))
    assert code == 0 and f"report written to {site / 'index.html'}" in out, out
    text, page = read_page(site)
    csv_table = leaderboard(cli, lovm_base, "csv")
    check_leaderboard(page, csv_table, leaderboard(cli, lovm_base, "markdown"))
    check_self_contained(site, text, page)
    tasks = csv_table[0][2:csv_table[0].index("avg")]
    # a bar chart per task and the average, a bar per row with a value (no intervals: table results)
    assert page.count("svg", "chart") == len(tasks) + 1
    valued = sum(c.attrs["data-v"] != "" for r in page.tables["board"].body for c in r[2:])
    assert page.count("rect", "bar") == valued > 0 and page.count("path", "err") == 0
    # the ground truth: LOVM's table, every model on every task, as `leaderboard --per-model` prints it
    truth = per_model(cli, lovm_base)
    cells = [t for t in page.titles if re.fullmatch(r".+ on .+: \d\.\d{4}", t)]
    assert len(cells) == len(truth) * (len(tasks) + 1)
    for model, values in truth.items():
        for task, value in zip([*tasks, "avg"], values):
            assert f"{model} on {task}: {value}" in cells
    # provenance: each result's plugin, version, hashes and file
    for path in (tmp_path / "registry").rglob("*.json"):
        r = json.loads(path.read_text())
        for value in (r["plugin"], r["plugin_version"], r["benchmark_hash"], r["created"], r["environment"]["python"],
                      str(path.relative_to(tmp_path / "registry"))):
            assert value in text
    assert page.count("details") == len(page.tables["board"].body) == 3


def test_image_benchmark_report_has_intervals_marks_charts_and_experiments(cli, tiny_json, registry, tmp_path):
    base = ["-q", "-b", tiny_json, "--registry", str(registry)]
    for args in (["-m", "mll"], ["-m", "mll", "--k", "2"], ["-m", "inb"]):
        code, out = cli(*base, "run", *args)
        assert code == 0, out
    experiments = tmp_path / "experiments"
    code, out = cli(*base, "experiment", "alpha", "--alphas", "0.5,0.9", "--out", str(experiments))
    assert code == 0, out
    site = tmp_path / "site"
    stats = ["--seed", "3", "--resamples", "2000"]
    code, out = cli(*base, "report", "--out", str(site), "--experiments", str(experiments), *stats)
    assert code == 0, out
    text, page = read_page(site)
    csv_table = leaderboard(cli, base, "csv", *stats)
    check_leaderboard(page, csv_table, leaderboard(cli, base, "markdown", *stats))
    check_self_contained(site, text, page)
    assert "2000 resamples" in text and "seed 3" in text
    body = page.tables["board"].body
    intervals = sum(c.attrs["data-lo"] != "" for r in body for c in r[2:])
    assert intervals == 3 * len(body[0][2:])  # per-image predictions: every cell has one
    assert page.count("path", "err") == intervals and page.count("line", "oracle") == len(body[0][2:])
    assert any(c.text.endswith("★") for r in body for c in r[2:])
    # experiment outputs: the plot copied beside the page, the table shown
    assert (site / "experiments" / "alpha.png").read_bytes() == (experiments / "alpha.png").read_bytes()
    assert page.tables["table1"].head[0].text == "alpha" and len(page.tables["table1"].body) == 2
    assert ("img", {"src": "experiments/alpha.png", "alt": "alpha plot"}) in page.elements
    # the heatmap: every hub model on every task and the average
    models = [m["id"] for m in json.loads(Path(tiny_json).read_text())["models"]]
    assert page.count("svg", "heatmap") == 1 and page.count("rect") - page.count("rect", "bar") == len(models) * (
        len(body[0][2:]))


def test_no_results_and_no_ground_truth_are_said_on_the_page(cli, tmp_path, monkeypatch):
    """The embedded benchmark on an empty registry: nothing to show, nothing run or written there."""
    monkeypatch.chdir(tmp_path)  # no ./mllbench-out/embedded: no experiments section
    registry = tmp_path / "registry"
    site = tmp_path / "site"
    code, out = cli("-q", "--registry", str(registry), "report", "--out", str(site))
    assert code == 0, out
    text, page = read_page(site)
    assert f"No results for benchmark embedded in <code>{registry}</code>" in text
    assert "No ground truth: the registry lacks 99 of the 99 model × task predictions" in text
    assert "board" not in page.tables and page.count("svg") == 0 and not registry.exists()
    assert [a["href"] for t, a in page.elements if t == "a"] == ["#leaderboard", "#truth"]


def test_out_must_be_new_empty_or_an_earlier_report(cli, lovm_base, tmp_path):
    assert cli(*lovm_base, "run", "-m", "inb")[0] == 0
    site, experiments = tmp_path / "site", tmp_path / "exp"
    experiments.mkdir()
    (experiments / "alpha.png").write_bytes(b"\x89PNG stand-in")
    assert cli(*lovm_base, "report", "--out", str(site), "--experiments", str(experiments))[0] == 0
    assert (site / "experiments" / "alpha.png").exists() and (site / MARKER).exists()
    # a rerun replaces the earlier report as a whole, leaving nothing of it or of its temporary folder
    code, out = cli(*lovm_base, "report", "--out", str(site))
    assert code == 0, out
    assert not (site / "experiments").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    a_file, foreign = tmp_path / "notes.txt", tmp_path / "mine"
    a_file.write_text("keep")
    foreign.mkdir()
    (foreign / "keep.txt").write_text("keep")
    for args, message in ((["--out", str(a_file)], "is a file; name a folder"),
                          (["--out", str(foreign)], "holds files `mllbench report` did not write"),
                          (["--out", str(tmp_path / "x"), "--experiments", str(tmp_path / "none")],
                           "is not a folder")):
        code, out = cli(*lovm_base, "report", *args)
        assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out
    assert a_file.read_text() == "keep" and [p.name for p in foreign.iterdir()] == ["keep.txt"]
    assert not (tmp_path / "x").exists()


def test_strings_from_results_and_definitions_are_escaped(tmp_path):
    """Method names, parameters, model ids and the description reach the page as text, never markup."""
    hostile = "<img src=x onerror=alert(1)>"
    results = [{"method": hostile, "params": {"k": 1, "note": "</td><script>alert(2)</script>"},
                "plugin_version": "<b>1</b>", "created": "2026-01-01", "tasks": {"a&b": {"accuracy": 0.5}}}]
    b = board(results, ["a&b"], oracle={"a&b": 0.75})
    page = Page("<bench>", f"about {hostile}", tmp_path, ["<model>"], ["a&b"], b, np.array([[0.75]]), "", tmp_path)
    parsed = Parsed(render(page))
    assert parsed.count("img") == 0 and parsed.count("b") == 0
    assert [a.get("src") for t, a in parsed.elements if t == "script"] == ["report.js"]
    row = parsed.tables["board"].body[0]
    assert row[0].text == b.labels[0] and hostile in row[0].text and row[1].text == "<b>1</b>"
    assert "<model> on a&b: 0.7500" in parsed.titles
