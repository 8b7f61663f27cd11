"""Reuse cost: the hub definitions' GFLOPs and a result's per-task cost of the models it reuses."""
import json
from pathlib import Path

from mllbench.pipeline.cost import model_gflops
from mllbench.report.leaderboard import reuse_gflops

ROOT = Path(__file__).resolve().parents[1]


def test_every_embedded_model_has_a_measured_cost():
    models = json.loads((ROOT / "benchmarks" / "embedded.json").read_text())["models"]
    gflops = model_gflops(models)
    assert set(gflops) == {m["id"] for m in models} and all(0 < g < 1 for g in gflops.values())
    assert gflops["vit-s-all"] > gflops["vit-t-google"]  # the larger tower costs more


def test_reuse_cost_is_the_union_of_reused_models_per_task():
    gflops = model_gflops([{"id": "a", "metadata": {"gflops": 1.0}}, {"id": "b", "metadata": {"flops_b": 4.0}},
                           {"id": "c", "metadata": {}}])
    assert gflops == {"a": 1.0, "b": 4.0}
    result = {"tasks": {"t1": {"models_used": ["a"]}, "t2": {"models_used": ["a", "b"]}}}
    assert reuse_gflops(result, ["t1", "t2"], gflops) == 3.0
    assert reuse_gflops({"tasks": {"t1": {"models_used": ["c"]}}}, ["t1"], gflops) is None
    assert reuse_gflops(result, ["t1", "t3"], gflops) is None


def test_a_run_records_each_tasks_reuse_cost(tiny_json, registry):
    """run_method writes reuse_gflops per task: the GFLOPs of the models reused on it (the union)."""
    from harness import tiny_session
    from mllbench.pipeline.run import run_method

    definition = json.loads(Path(tiny_json).read_text())
    for i, m in enumerate(definition["models"]):
        m.setdefault("metadata", {})["gflops"] = 0.5 + i  # distinct costs: a sum names its models
    costed = Path(tiny_json).with_name("tiny-costed.json")
    costed.write_text(json.dumps(definition))
    session = tiny_session(costed, registry)
    gflops = model_gflops(session.bench.models)
    result, _ = run_method(session, "mll", [t["name"] for t in definition["targets"]], {}, k=3)
    for entry in result["tasks"].values():
        assert entry["models_used"] and entry["reuse_gflops"] == sum(gflops[m] for m in entry["models_used"])
