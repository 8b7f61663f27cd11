"""Leaderboard: one row per configuration, intervals, best/≈ marks, aggregates, compare."""
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from mllbench.report.leaderboard import BEST, MISSING, TIED, board, compare, find_row, render
from mllbench.core.types import MllbenchError

DEFAULTS = {"mll": {"k": 1, "alpha": 0.7, "logit_scale": 100.0, "weighting": "entropy", "embedder": "minilm"}}


def result(method, accs, k=1, created="2026-01-01", version="0.1.0", **params):
    return {"method": method, "params": {"k": k, "alpha": 0.7, **params}, "plugin_version": version,
            "created": created, "tasks": {t: {"accuracy": a} for t, a in accs.items()}}


def with_predictions(method, predictions: dict, labels: dict, created="1", **params):
    """A result in the real schema (2): per-image predictions and labels per task."""
    tasks = {t: {"accuracy": float(np.mean(np.asarray(p) == labels[t])), "predictions": list(p),
                 "labels": list(labels[t])} for t, p in predictions.items()}
    return {"schema": 2, "method": method, "params": {"k": 1, **params}, "plugin_version": "0.1.0",
            "created": created, "tasks": tasks}


def test_newest_of_a_configuration_wins_missing_is_dash_and_oracle_last():
    results = [result("inb", {"a": 0.5, "b": 0.7}, created="1"),
               result("inb", {"a": 0.6, "b": 0.8}, created="2"),
               result("mll", {"a": 0.9})]
    b = board(results, ["a", "b"], oracle={"a": 1.0, "b": 0.9}, defaults=DEFAULTS)
    header, rows = b.display()
    assert header == ["method", "version", "a", "b", "avg"]
    by = {r[0]: r for r in rows}
    # no per-image predictions (schema 1): values and marks, no interval
    assert by["inb (k=1, alpha=0.7)"][2:] == ["0.6000", f"0.8000 {BEST}", "0.7000 " + BEST]
    assert by["mll (k=1)"][2:] == [f"0.9000 {BEST}", MISSING, MISSING]
    assert rows[-1][0].startswith("oracle") and rows[-1][-1] == "0.9500"
    notes = "\n".join(b.notes())
    assert "1 older result of the same configuration replaced: inb (k=1, alpha=0.7) (1)" in notes
    assert "1000 resamples" in notes and "seed 0" in notes


def test_configurations_differing_in_one_parameter_are_two_rows():
    results = [result("mll", {"a": 0.5}, k=3, weighting="entropy", created="1"),
               result("mll", {"a": 0.4}, k=3, weighting="inverse-entropy", created="2")]
    b = board(results, ["a"], defaults=DEFAULTS)
    assert b.labels == ["mll (k=3)", "mll (k=3, weighting=inverse-entropy)"] and not b.replaced
    every = board(results, ["a"], defaults=DEFAULTS, every=True).labels
    assert every == ["mll (k=3, alpha=0.7, weighting=entropy)", "mll (k=3, alpha=0.7, weighting=inverse-entropy)"]
    # equal labels, other plugin versions: the version tells them apart
    versions = [result("mll", {"a": 0.5}, version="0.1.0"), result("mll", {"a": 0.6}, version="0.2.0")]
    assert board(versions, ["a"], defaults=DEFAULTS).labels == ["mll (k=1) [v0.1.0]", "mll (k=1) [v0.2.0]"]
    # equal labels, same version (a parameter stored once at its default, once not at all): a short hash
    explicit = [result("mll", {"a": 0.5}), result("mll", {"a": 0.6}, weighting="entropy")]
    labels = board(explicit, ["a"], defaults=DEFAULTS).labels
    assert len(set(labels)) == 2 and all(x.startswith("mll (k=1) [#") for x in labels)


def marked_board():
    """Task a: A 90 % right, B 40 %, C = A with one image wrong; task b: all equal."""
    rng = np.random.default_rng(0)
    labels = {"a": rng.integers(0, 4, 200), "b": rng.integers(0, 4, 50)}
    good = np.where(rng.random(200) < 0.9, labels["a"], (labels["a"] + 1) % 4)
    poor = np.where(rng.random(200) < 0.4, labels["a"], (labels["a"] + 1) % 4)
    near = good.copy()
    near[np.flatnonzero(good == labels["a"])[0]] = (labels["a"][np.flatnonzero(good == labels["a"])[0]] + 1) % 4
    make = lambda name, a: with_predictions(name, {"a": a, "b": labels["b"]}, labels)  # noqa: E731
    return board([make("A", good), make("B", poor), make("C", near)], ["a", "b"]), labels, good, poor


def test_intervals_and_marks_from_per_image_predictions():
    b, labels, good, poor = marked_board()
    assert b.labels == ["A (k=1)", "B (k=1)", "C (k=1)"]
    assert list(b.marks[:, 0]) == [BEST, "", TIED]  # B is far worse; C one image apart
    assert list(b.marks[:, 1]) == [BEST] * 3  # all equal: all best
    assert list(b.marks[:, 2]) == [BEST, "", TIED]
    acc = np.mean(good == labels["a"])
    assert b.values[0, 0] == pytest.approx(acc) and b.lo[0, 0] < acc < b.hi[0, 0]
    assert list(b.lo[:, 1]) == list(b.hi[:, 1]) == [1.0] * 3  # always right: no spread
    assert b.lo[0, 2] < b.values[0, 2] < b.hi[0, 2]
    cell = b.display()[1][0][2]
    assert cell.startswith(f"{acc:.4f} ± ") and cell.endswith(BEST)
    assert float(cell.split("± ")[1].split()[0]) == pytest.approx((b.hi[0, 0] - b.lo[0, 0]) / 2, abs=5e-4)


def test_csv_has_interval_columns_resamples_and_seed():
    b, *_ = marked_board()
    old = board([result("old", {"a": 0.5, "b": 0.5})], ["a", "b"], oracle={"a": 1.0, "b": 1.0})
    for current in (b, old):
        header, rows = current.csv()
        assert header == ["method", "version", "a", "b", "avg", "a_lo", "a_hi", "b_lo", "b_hi", "avg_lo",
                          "avg_hi", "resamples", "seed"]
    rows = {r["method"]: r for r in csv.DictReader(io.StringIO(render(*b.csv(), "csv")))}
    for r in rows.values():
        assert float(r["a_lo"]) <= float(r["a"]) <= float(r["a_hi"]) and (r["resamples"], r["seed"]) == ("1000", "0")
        assert float(r["avg_lo"]) <= float(r["avg"]) <= float(r["avg_hi"])
    rows = {r["method"]: r for r in csv.DictReader(io.StringIO(render(*old.csv(), "csv")))}
    assert rows["old (k=1, alpha=0.7)"]["avg"] == "0.5000" and rows["old (k=1, alpha=0.7)"]["a_lo"] == ""
    assert rows["oracle (best single model)"]["avg"] == "1.0000"


def test_render_formats():
    b = board([result("inb", {"a": 0.5})], ["a"], defaults={"inb": {"k": 1, "alpha": 0.7}})
    header, rows = b.display()
    assert render(header, rows, "rich") is None
    assert render(*b.csv(), "csv").splitlines()[1] == "inb (k=1),0.1.0,0.5000,0.5000,,,,,1000,0"
    assert "| inb (k=1)" in render(header, rows, "markdown")
    assert "\\toprule" in render(header, rows, "latex")


def test_rank_and_win_rate_aggregates():
    results = [result("x", {"a": 0.9, "b": 0.5}), result("y", {"a": 0.9, "b": 0.7}), result("z", {"a": 0.1})]
    b = board(results, ["a", "b"])
    header, rows = b.ranks()
    assert header[-1] == "mean rank"
    by = {r[0]: r[2:] for r in rows}
    assert by["x (k=1, alpha=0.7)"] == ["1.50", "2.00", "1.75"] and by["z (k=1, alpha=0.7)"][-1] == MISSING
    header, rows = b.win_rates()
    assert header[1:] == b.labels
    assert rows[0][1:] == [MISSING, "0.25", "1.00"]  # x vs y: tie on a, loses b; x vs z: wins a (b not shared)


def test_compare_paired_on_the_same_images():
    b, labels, good, poor = marked_board()
    a_, b_ = b.results[find_row(b, "A")], b.results[find_row(b, "B (k=1)")]
    rows = compare(a_, b_, ["a", "b"])
    assert [r["task"] for r in rows] == ["a", "b", "average"]
    assert rows[0]["diff"] == pytest.approx(np.mean(good == labels["a"]) - np.mean(poor == labels["a"]))
    assert rows[0]["lo"] > 0 and rows[0]["p"] < 0.01
    assert (rows[1]["diff"], rows[1]["p"]) == (0.0, 1.0)  # task b: the same predictions
    assert rows[2]["diff"] == pytest.approx(rows[0]["diff"] / 2)
    same = compare(a_, a_, ["a", "b"])
    assert all((r["diff"], r["p"]) == (0.0, 1.0) for r in same)
    # another test set: refused
    other = {**b_, "tasks": {**b_["tasks"], "a": {**b_["tasks"]["a"], "labels": list(labels["a"][::-1])}}}
    with pytest.raises(MllbenchError, match="different test images or labels of task 'a'"):
        compare(a_, other, ["a", "b"])
    with pytest.raises(MllbenchError, match="no per-image predictions"):
        compare(a_, result("old", {"a": 0.5, "b": 0.5}), ["a", "b"])


def test_find_row_by_label_or_unique_method():
    results = [result("mll", {"a": 0.5}, k=3, weighting="entropy"),
               result("mll", {"a": 0.4}, k=3, weighting="uniform"), result("inb", {"a": 0.1})]
    b = board(results, ["a"], defaults=DEFAULTS)
    assert b.labels[find_row(b, "inb")] == "inb (k=1, alpha=0.7)"
    assert b.labels[find_row(b, "mll (k=3, weighting=uniform)")] == "mll (k=3, weighting=uniform)"
    with pytest.raises(MllbenchError, match="2 configurations.*'mll \\(k=3\\)'.*'mll \\(k=3, weighting=uniform\\)'"):
        find_row(b, "mll")
    with pytest.raises(MllbenchError, match="no row or method 'nope'"):
        find_row(b, "nope")


def test_cli_configurations_intervals_and_compare(cli, tiny_json, registry):
    """Real runs through the CLI: two configurations, a replaced rerun, intervals in csv, compare."""
    base = ["-q", "-b", tiny_json, "--registry", str(registry)]
    first = json.loads(Path(tiny_json).read_text())["targets"][0]["name"]
    # a run of one task, then the same configuration on all: the newer result replaces the older
    for args in (["-m", "mll", "--tasks", first], ["-m", "mll"], ["-m", "mll", "--weighting", "uniform"],
                 ["-m", "inb"]):
        code, out = cli(*base, "run", *args)
        assert code == 0, out
    code, out = cli(*base, "leaderboard", "--format", "csv")
    assert code == 0, out
    rows = {r["method"]: r for r in csv.DictReader(io.StringIO(out))}
    assert {"mll (k=1)", "mll (k=1, weighting=uniform)", "inb (k=1)", "oracle (best single model)"} == set(rows)
    tasks = [t for t in next(csv.reader(io.StringIO(out)))[2:] if t != "avg" and not t.endswith(("_lo", "_hi"))
             and t not in ("resamples", "seed")]
    assert len(tasks) == 2
    for label in ("mll (k=1)", "inb (k=1)"):
        r = rows[label]
        for col in (*tasks, "avg"):
            assert float(r[f"{col}_lo"]) <= float(r[col]) <= float(r[f"{col}_hi"])
        assert (r["resamples"], r["seed"]) == ("1000", "0")
    code, out = cli(*base, "leaderboard", "--format", "markdown", "--no-oracle", "--seed", "3",
                    "--resamples", "2000", "--aggregate", "rank")
    assert code == 0, out
    assert "1 older result of the same configuration replaced: mll (k=1) (1)" in out
    assert "2000 resamples" in out and "seed 3" in out and " ± " in out and BEST in out and "mean rank" in out
    code, out = cli(*base, "leaderboard", "--params", "--format", "csv", "--no-oracle")
    assert any(label.startswith("mll (k=1, logit_scale=100.0, weighting=uniform, alpha=0.7")
               for label in (r["method"] for r in csv.DictReader(io.StringIO(out))))
    # compare: the difference of the leaderboard's numbers, paired on the same images
    code, out = cli(*base, "compare", "mll (k=1)", "inb", "--format", "csv")
    assert code == 0, out
    cmp = {r["task"]: r for r in csv.DictReader(io.StringIO(out))}
    assert list(cmp) == [*tasks, "average"]
    for task in (*tasks, "avg"):
        row = cmp["average" if task == "avg" else task]
        assert float(row["a"]) == pytest.approx(float(rows["mll (k=1)"][task]), abs=1e-4)
        assert float(row["diff"]) == pytest.approx(float(rows["mll (k=1)"][task]) - float(rows["inb (k=1)"][task]),
                                                   abs=2e-4)
        assert float(row["lo"]) <= float(row["diff"]) <= float(row["hi"]) and 0 < float(row["p"]) <= 1
    code, out = cli(*base, "compare", "inb", "inb")
    assert code == 0 and "compare on tiny" in out and "+0.0000" in out and "1.0000" in out
    for args, message in ((["mll", "inb"], "method 'mll' has 2 configurations"),
                          (["nope", "inb"], "no row or method 'nope'")):
        code, out = cli(*base, "compare", *args)
        assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out
