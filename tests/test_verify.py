"""Issue 20: `mllbench verify` (a selection's top models and its ensemble on a user's labelled
images), the hub restricted by cost (`--max-gflops`, `--max-params`) and `experiment cost`
(accuracy against compute of the stored results, shown by `mllbench report`).

The end-to-end tests use test_user_tasks' embedded slice (three trained embedded hub models, the
`digits` task scored by `run --method mll --k 2`), its images written out as class folders.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mllbench.core.types import MllbenchError
from mllbench.maths.stats import sign_flip, wilson
from mllbench.pipeline.cost import within_budget
from mllbench.pipeline.verify import judged, separation
from mllbench.report.experiments import pareto_front
from test_user_tasks import SLICE_MODELS, embedded_slice, exported_digits  # noqa: F401 - fixtures


def test_verify_on_an_exported_task_equals_run(embedded_slice, exported_digits, cli, monkeypatch):  # noqa: F811
    import mllbench

    images, task, _ = exported_digits
    args = [*embedded_slice["base"], "verify", "--task", str(task), "--images", str(images), "--k", "2"]
    code, out = cli(*args, "--json")
    assert code == 0, out
    data = json.loads(out[out.index("{"):])
    run = embedded_slice["result"]
    root = embedded_slice["root"]
    session = mllbench.open(str(root / "slice.json"), root / "registry").session
    ranked = [m for _, m in sorted(zip(-np.asarray(run["model_scores"]), range(3)))]
    expected = [SLICE_MODELS[m] for m in ranked]  # the run's ranking; hub order = SLICE_MODELS
    names = [c["name"] for c in data["candidates"]]
    assert names == [*expected, "ensemble (k=2)"]
    for c in data["candidates"][:3]:
        sims, labels = session.predictions("digits", c["name"])
        assert c["accuracy"] == pytest.approx(float(np.mean(sims.argmax(1) == labels)))
    ensemble = data["candidates"][3]
    assert ensemble["accuracy"] == pytest.approx(run["accuracy"]) and ensemble["models"] == run["models_used"]
    n = data["images"]
    assert n == len(run["labels"]) == 20
    for c in data["candidates"]:
        assert (c["lo"], c["hi"]) == pytest.approx(wilson(round(c["accuracy"] * n), n))
        assert c["lo"] <= c["accuracy"] <= c["hi"]
    assert data["candidates"][0]["versus_top"] is None
    assert all(0 < c["versus_top"]["p"] <= 1 for c in data["candidates"][1:])
    assert data["separation"]["a"] in names and data["separation"]["b"] in names
    # cached: a rerun loads no hub model and prints the table
    from mllbench.host.benchmark import Benchmark

    def refuse(*a, **k):
        raise AssertionError("a hub model was loaded on a rerun")
    monkeypatch.setattr(Benchmark, "load_model", refuse)
    code, out = cli(*args)
    assert code == 0, out
    assert "verify on 20 labelled images" in out and "top pick" in out and "Wilson" in out


def test_verify_needs_class_folders(embedded_slice, exported_digits, cli, tmp_path):  # noqa: F811
    images, task, _ = exported_digits
    flat = tmp_path / "flat"
    flat.mkdir()
    first = next(p for p in images.rglob("*.png"))
    (flat / "a.png").write_bytes(first.read_bytes())
    code, out = cli(*embedded_slice["base"], "verify", "--task", str(task), "--images", str(flat))
    assert code != 0 and "one sub-folder per class" in out


def test_paired_differences_are_compares_sign_flip():
    top = np.array([1, 1, 0, 1, 0, 1, 1, 1], float)
    other = np.array([0, 1, 0, 0, 1, 1, 0, 1], float)
    a, b = judged([("top", ("m1",), top), ("other", ("m2",), other)])
    assert a.versus_top is None and b.versus_top == sign_flip([other - top])
    assert (b.lo, b.hi) == wilson(4, 8)


def test_separation_estimate():
    a = np.array([1.0] * 30 + [0.0] * 10 + [1.0] * 10)
    b = np.array([1.0] * 30 + [1.0] * 5 + [0.0] * 15)  # discordant on 15 of 50, difference 5/50
    ca, cb = judged([("a", ("a",), a), ("b", ("b",), b)])
    sep = separation(ca, cb, 50)
    d, delta = 15 / 50, 5 / 50
    needed = math.ceil((1.959964 + 0.841621) ** 2 * (d - delta ** 2) / delta ** 2)
    assert sep["needed"] == needed and sep["more_images"] == needed - 50
    same = separation(ca, ca, 50)
    assert same["more_images"] is None and "same number" in same["why"]


MODELS = [{"id": "small", "metadata": {"gflops": 0.5, "params_m": 10}},
          {"id": "big", "metadata": {"gflops": 4.0, "params_m": 100}},
          {"id": "unknown", "metadata": {}}]


def test_cost_limits_restrict_the_hub():
    assert within_budget(MODELS) == ([0, 1, 2], None)
    kept, note = within_budget(MODELS, max_gflops=1.0)
    assert kept == [0] and note == "2 of 3 hub models left out by --max-gflops 1 (1 of them for an unknown cost)"
    assert within_budget(MODELS, max_gflops=5, max_params=50)[0] == [0]
    with pytest.raises(MllbenchError, match=r"no hub model is within --max-gflops 0.1 \(the cheapest: 0.5 GFLOPs"):
        within_budget(MODELS, max_gflops=0.1)


def test_select_max_gflops_leaves_the_costly_models_out(embedded_slice, cli):  # noqa: F811
    from mllbench.pipeline.cost import model_gflops

    slice_models = json.loads((embedded_slice["root"] / "slice.json").read_text())["models"]
    costs = model_gflops(slice_models)
    limit = sorted(costs.values())[1]
    allowed = {m for m, g in costs.items() if g <= limit}
    assert 0 < len(allowed) < len(costs)
    code, out = cli(*embedded_slice["base"], "select", "--classes", "cat, dog", "--max-gflops", str(limit), "--json")
    assert code == 0, out
    data = json.loads(out[out.index("{"):])
    assert {r["model"] for r in data["ranking"]} == allowed
    assert set(data["models_used"]) <= allowed and "left out by --max-gflops" in data["left_out"]
    code, out = cli(*embedded_slice["base"], "select", "--classes", "cat, dog", "--max-gflops", "0.000001")
    assert code != 0 and "no hub model is within --max-gflops" in out


def test_pareto_front():
    cost = np.array([1.0, 2.0, 2.0, 3.0, 0.5])
    acc = np.array([0.5, 0.7, 0.6, 0.7, 0.5])
    assert pareto_front(cost, acc).tolist() == [False, True, False, False, True]


def test_experiment_cost_reads_results_and_the_report_shows_it(embedded_slice, cli, tmp_path,  # noqa: F811
                                                               monkeypatch):
    import csv

    from mllbench.host.benchmark import Benchmark
    from mllbench.pipeline.cost import model_gflops

    code, out = cli(*embedded_slice["base"], "run", "--method", "mll", "--k", "1", "--tasks", "digits")
    assert code == 0, out
    k1 = json.loads(Path(out.strip().splitlines()[-1].split("result written to ")[1]).read_text())
    code, out = cli(*embedded_slice["base"], "experiment", "k", "--ks", "1,2", "--tasks", "digits", "--out",
                    str(tmp_path / "k"), "--format", "csv")
    assert code == 0, out
    with open(tmp_path / "k" / "k.csv", newline="") as fh:
        by_k = {r["k"]: float(r["GFLOPs/img"]) for r in csv.DictReader(fh)}
    gflops = model_gflops(json.loads((embedded_slice["root"] / "slice.json").read_text())["models"])
    assert by_k == pytest.approx({"1": sum(gflops[m] for m in k1["tasks"]["digits"]["models_used"]),
                                  "2": sum(gflops[m] for m in embedded_slice["result"]["models_used"])}, abs=1e-4)

    def refuse(*a, **k):
        raise AssertionError("experiment cost loaded a hub model")
    monkeypatch.setattr(Benchmark, "load_model", refuse)
    folder = tmp_path / "out"
    code, out = cli(*embedded_slice["base"], "experiment", "cost", "--out", str(folder), "--format", "csv")
    assert code == 0, out
    assert (folder / "cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(folder / "cost.csv", newline="") as fh:
        rows = {r["result"]: r for r in csv.DictReader(fh)}
    for label, result in (("mll (k=2)", embedded_slice["result"]), ("mll (k=1)", k1["tasks"]["digits"])):
        assert float(rows[label]["GFLOPs/img"]) == pytest.approx(sum(gflops[m] for m in result["models_used"]),
                                                                 abs=1e-4)
        assert float(rows[label]["avg accuracy"]) == pytest.approx(result["accuracy"], abs=1e-4)
    front = pareto_front(np.array([float(r["GFLOPs/img"]) for r in rows.values()]),
                         np.array([float(r["avg accuracy"]) for r in rows.values()]))
    assert [r["Pareto front"] == "yes" for r in rows.values()] == front.tolist() and front.any()
    code, out = cli(*embedded_slice["base"], "report", "--out", str(tmp_path / "site"), "--experiments", str(folder))
    assert code == 0, out
    assert 'src="experiments/cost.png"' in (tmp_path / "site" / "index.html").read_text()
    assert (tmp_path / "site" / "experiments" / "cost.png").is_file()
