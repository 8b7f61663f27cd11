"""`mllbench experiment alpha|k|growth|spider` through the CLI on the tiny benchmark."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and b"IEND" in data[-16:]


@pytest.fixture
def experiment(cli, tiny_json, registry, tmp_path):
    """Run an experiment subcommand, check its PNG; returns the rows of each CSV table it wrote."""
    def run(name: str, *args: str) -> dict[str, list[dict]]:
        out = tmp_path / "out"
        code, text = cli("-q", "-b", tiny_json, "--registry", str(registry), "experiment", name,
                         "--out", str(out), "--format", "csv", *args)
        assert code == 0, text
        assert_png(out / f"{name}.png")
        return {p.stem: read_csv(p) for p in out.glob("*.csv")}
    return run


def mll_run(cli, tiny_json, registry, *args: str) -> dict:
    code, text = cli("-q", "-b", tiny_json, "--registry", str(registry), "run", "--method", "mll", *args)
    assert code == 0, text
    return json.loads(Path(text.strip().splitlines()[-1].split(" to ")[-1]).read_text())


@pytest.mark.slow
def test_alpha_table_matches_run(experiment, cli, tiny_json, registry):
    rows = experiment("alpha")["alpha"]
    assert [float(r["alpha"]) for r in rows] == [0.5, 0.6, 0.7, 0.8, 0.9]
    run = mll_run(cli, tiny_json, registry, "--alpha", "0.7")
    row = next(r for r in rows if float(r["alpha"]) == 0.7)
    assert float(row["avg"]) == pytest.approx(run["average"], abs=1e-4)
    for task, result in run["tasks"].items():
        assert float(row[task]) == pytest.approx(result["accuracy"], abs=1e-4)


@pytest.mark.slow
def test_k_cost_is_relative_to_k1(experiment, cli, tiny_json, registry):
    rows = experiment("k", "--ks", "1,2,3")["k"]
    costs = [float(r["cost vs k=1"]) for r in rows]
    assert [int(r["k"]) for r in rows] == [1, 2, 3] and costs[0] == 1.0
    assert costs == sorted(costs)  # more models per class never runs fewer models
    # both readings of Eq. 9 side by side, the default (inverse-entropy) first, each with its interval
    for weighting in ("inverse-entropy", "entropy"):
        run = mll_run(cli, tiny_json, registry, "--k", "3", *(["--weighting", weighting] if weighting == "entropy" else []))
        assert run["params"]["weighting"] == weighting
        avg, lo, hi = (float(rows[2][f"{c} ({weighting})"]) for c in ("avg accuracy", "95% lo", "95% hi"))
        assert avg == pytest.approx(run["average"], abs=1e-4)
        assert lo <= avg + 1e-4 and avg - 1e-4 <= hi
    assert list(rows[0])[:4] == ["k", "avg accuracy (inverse-entropy)", "95% lo (inverse-entropy)",
                                 "95% hi (inverse-entropy)"]
    used = sum(len(r["models_used"]) for r in run["tasks"].values())
    assert float(rows[2]["models run per task"]) == pytest.approx(used / len(run["tasks"]), abs=0.01)


@pytest.mark.slow
def test_growth_ends_at_full_hub(experiment, cli, tiny_json, registry):
    rows = experiment("growth", "--orders", "4")["growth"]
    assert [int(r["hub size"]) for r in rows] == [1, 2, 3]
    run = mll_run(cli, tiny_json, registry)
    last = rows[-1]
    assert float(last["mean"]) == pytest.approx(run["average"], abs=1e-4)
    assert float(last["std"]) == 0.0
    for r in rows:
        assert float(r["min"]) <= float(r["mean"]) <= float(r["max"])


@pytest.mark.slow
def test_spider_tables_are_ground_truth(experiment, cli, tiny_json, registry):
    tables = experiment("spider")
    by_task, by_class = tables["spider-tasks"], tables["spider-classes"]
    assert [r["model"] for r in by_task] == [r["model"] for r in by_class] == ["tiny0", "tiny1", "tiny2"]
    first_task = list(by_task[0])[1]
    classes = list(by_class[0])[1:]
    assert len(classes) == 3
    # every class of the tiny tasks has 3 images: the task accuracy is the mean over classes
    for t, c in zip(by_task, by_class):
        assert float(t[first_task]) == pytest.approx(sum(float(c[k]) for k in classes) / 3, abs=1e-3)
