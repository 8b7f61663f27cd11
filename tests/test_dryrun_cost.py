"""`run --dry-run`'s cost table: per hub model the images a run would encode (from the definition
and the registry alone), its image tower's GFLOPs, the hours at the assumed throughput and its
label's size, and a total row; "?" where a figure is unknown."""
from __future__ import annotations

import json
import math
import statistics
from importlib import resources
from pathlib import Path

import pytest
from harness import tiny_session

from mllbench.core.types import MllbenchError
from mllbench.pipeline.cost import (DEFAULT_TFLOPS, TIMM_RTX4090, ModelWork, Throughput, cost_rows, label_bytes)
from mllbench.pipeline.dryrun import RunWork

EMBEDDED = Path(str(resources.files("mllbench.benchmarks")))


def table(out: str) -> dict[str, list[str]]:
    """The markdown cost table a piped dry run prints: model -> its cells."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| ")]
    return {r[0]: r[1:] for r in rows if r[0] != "model"}


def sig(value: float) -> str:
    """Three significant digits and no exponent, as the table writes hours and GB."""
    return f"{value:,.{max(0, 2 - math.floor(math.log10(value)))}f}"


def test_the_default_throughput_is_the_median_of_timms_published_rtx4090_figures():
    rates = [2 * gmacs * ips / 1000 for _, ips, gmacs in TIMM_RTX4090]
    assert DEFAULT_TFLOPS == round(statistics.median(rates), 1) == 97.9
    rate = Throughput.parse(None, {})
    assert rate.device == "GPU" and "RTX 4090" in rate.source
    assert rate.images_per_s("any", 9.79) == pytest.approx(10_000)  # rate / GFLOPs per image
    assert rate.images_per_s("any", None) is None
    assert Throughput.parse("50", {}).images_per_s("m", 5.0) == 10_000


def test_a_rehearsal_measurement_gives_measured_models_their_rate_and_the_others_the_median(tmp_path):
    path = tmp_path / "throughput.json"  # what benchmarks/perf/paper_rehearsal.py writes (the fields read)
    rows = [{"model": "a", "device": "cuda", "label_ips": 1000.0}, {"model": "b", "device": "cuda", "label_ips": 100.0},
            {"model": "c", "device": "cuda", "label_ips": 10.0}]
    for written in (rows, {"one_at_a_time": rows, "one_pass": {}}):  # alone, or beside the one-pass figures
        path.write_text(json.dumps(written))
        rate = Throughput.parse(str(path), {"a": 10.0, "b": 200.0, "c": 1.0})  # 10, 20 and 0.01 TFLOP/s
        assert rate.device == "GPU" and str(path) in rate.source
        assert rate.images_per_s("a", 10.0) == 1000 and rate.tflops == 10.0
        assert rate.images_per_s("other", 5.0) == 2000
    for bad in ("-1", str(tmp_path / "missing.json")):
        with pytest.raises(MllbenchError, match="--assume-throughput") as err:
            Throughput.parse(bad, {})
        assert "\n" not in str(err.value)


def test_a_model_without_gflops_or_images_shows_a_question_mark_and_the_total_says_so():
    works = [ModelWork("a", 100, 20, 0, 2.0, 0.5), ModelWork("b", 100, None, 0, None, None)]
    head, rows = cost_rows(works, Throughput(1.0, "test"))
    assert head[-2] == "GPU h"
    assert rows[0] == ["a", "100", "20", "0", "120", "2", "0.0000667", "0.500"]
    assert rows[1] == ["b", "100", "?", "0", "?", "?", "?", "?"]
    assert rows[2] == ["total", "200", "20+?", "0", "120+?", "2+?", "0.0000667+?", "0.500+?"]


def embedded_copy(tmp_path: Path) -> tuple[Path, dict]:
    """The embedded benchmark with absolute paths, its targets' n_test (their real sizes), no GFLOPs
    for rn-objects and embed_dim for vit-s-all; and the copy's definition."""
    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import get_host

    definition = json.loads((EMBEDDED / "embedded.json").read_text())
    real = load_benchmark(get_host(), str(EMBEDDED / "embedded.json"))
    for entry in definition["targets"] + definition["samples"]:
        entry.update({k: str(EMBEDDED / entry[k]) for k in ("file", "splits")})
    for entry in definition["targets"]:
        entry["n_test"] = len(real.dataset(entry["name"]))
    for m in definition["models"]:
        m["args"]["model"] = "local-dir:" + str(EMBEDDED / m["args"]["model"][len("local-dir:"):])
        if m["id"] == "rn-objects":
            del m["metadata"]["gflops"]
        if m["id"] == "vit-s-all":
            m["metadata"]["embed_dim"] = 128
    path = tmp_path / "embedded.json"
    path.write_text(json.dumps(definition))
    return path, definition


def test_embedded_rows_and_total_from_the_definition_and_the_registrys_graph(tmp_path, cli):
    path, definition = embedded_copy(tmp_path)
    registry = tmp_path / "reg"
    graph = tiny_session(path, registry).graph()  # built from the corpus and stored: what a run does first
    code, out = cli("-q", "-b", str(path), "--registry", str(registry), "run", "-m", "mll", "--dry-run")
    assert code == 0, out
    rows, images = table(out), len(graph.image_refs)
    targets = sum(t["n_test"] for t in definition["targets"])
    assert "graph: the registry's graph: 1,840 nodes, 2,571 images" in out and images == 2571
    for m in definition["models"]:
        gflops = m["metadata"].get("gflops")
        hours = "?" if gflops is None else sig((images + targets) * gflops / (DEFAULT_TFLOPS * 1000) / 3600)
        label = sig(label_bytes(images, 1840, len(graph.node_images), 128) / 1e9) if m["id"] == "vit-s-all" else "?"
        assert rows[m["id"]] == [f"{images:,}", f"{targets:,}", "0", f"{images + targets:,}",
                                 "?" if gflops is None else f"{gflops:g}", hours, label], m["id"]
    assert rows["total"][:4] == [f"{9 * images:,}", f"{9 * targets:,}", "0", f"{9 * (images + targets):,}"]
    assert rows["total"][5].endswith("+?") and rows["total"][6].endswith("+?")
    assert "97.9 TFLOP/s effective on one GPU" in out


def test_a_labelled_model_shows_no_graph_images_and_a_predicted_task_no_target_images(tiny_json, tmp_path, cli):
    definition = json.loads(Path(tiny_json).read_text())
    first, second = (t["name"] for t in definition["targets"])
    for i, m in enumerate(definition["models"][:2]):
        m.setdefault("metadata", {})["gflops"] = 1.0 + i  # the third declares none
    path = Path(tiny_json).with_name("tiny-dryrun-cost.json")
    path.write_text(json.dumps(definition))
    registry = tmp_path / "reg"
    session = tiny_session(path, registry)
    session.ensure(["tiny0"], [first])  # tiny0: labelled and predicted on the first target
    session.ensure(["tiny1"], [second], labels=False)  # the second's size: a stored prediction's
    sizes = {t: len(session.bench.dataset(t)) for t in (first, second)}
    graph = session.graph()
    code, out = cli("-q", "-b", str(path), "--registry", str(registry), "run", "-m", "mll", "--dry-run")
    assert code == 0, out
    rows, n = table(out), len(graph.image_refs)
    dim = session.model("tiny0").encode_texts(["x"]).shape[1]
    label = sig(label_bytes(n, len(graph.wnids), len(graph.node_images), dim) / 1e9)
    assert rows["tiny0"][:4] == ["0", f"{sizes[second]:,}", "0", f"{sizes[second]:,}"] and rows["tiny0"][6] == label
    assert rows["tiny1"][:4] == [f"{n:,}", f"{sizes[first]:,}", "0", f"{n + sizes[first]:,}"]
    assert rows["tiny2"][:4] == [f"{n:,}", f"{sum(sizes.values()):,}", "0", f"{n + sum(sizes.values()):,}"]
    assert rows["tiny2"][4:6] == ["?", "?"] and rows["tiny1"][6] == rows["tiny2"][6] == "?"
    total = 2 * n + sizes[second] + sizes[first] + sum(sizes.values())
    assert rows["total"][3] == f"{total:,}" and rows["total"][5].endswith("+?")
    samples = [s["name"] for s in definition["samples"]]
    session.sample_accuracy("tiny0", samples[0])  # tiny0's predictions on every sample dataset (6 classes: whole)
    work = RunWork(session.bench, session.store)  # as for a selector that reads sample-dataset accuracies
    sample_images = sum(len(session.bench.dataset(s)) for s in samples)
    assert [w.samples for w in work.models([first], samples=True)] == [0, sample_images, sample_images]


def test_a_modelgpt_dry_run_counts_the_sample_images_every_model_must_predict(tmp_path, cli):
    """ModelGPT reads the hub's accuracies on the sample datasets (``reads_sample_accuracy``); mll does not."""
    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import get_host

    path, definition = embedded_copy(tmp_path)
    real = load_benchmark(get_host(), str(path))
    expected = 0
    for entry in definition["samples"]:
        entry["n_test"] = n = len(real.dataset(entry["name"]))
        classes = len(entry.get("classnames") or entry["classes"])
        expected += n if classes <= 100 else round(n * 100 / classes)  # a class subset: n_test per class
    path.write_text(json.dumps(definition))
    base = ["-q", "-b", str(path), "--registry", str(tmp_path / "reg"), "run", "--dry-run"]
    code, out = cli(*base, "-m", "modelgpt")
    assert code == 0, out
    rows = table(out)
    assert expected > 0 and all(rows[m["id"]][2] == f"{expected:,}" for m in definition["models"])
    assert rows["total"][2] == f"{9 * expected:,}" and "modelgpt reads sample-dataset accuracies" in out
    code, out = cli(*base, "-m", "mll")
    assert code == 0 and table(out)["total"][2] == "0"


@pytest.mark.slow
def test_mll_paper_dry_run_costs_every_model_from_the_definition(tmp_path, cli):
    """49 rows: the graph estimated from the sample datasets' n_test, every target's n_test, open_clip's
    image-tower GFLOPs; --assume-throughput scales the hours."""
    definition = json.loads((EMBEDDED / "mll-paper.json").read_text())
    base = ["--offline", "-b", "mll-paper", "--registry", str(tmp_path / "reg"), "run", "-m", "mll", "--dry-run"]
    code, out = cli(*base)
    assert code == 0, out
    rows = table(out)
    assert len(rows) == 50
    targets = sum(t["n_test"] for t in definition["targets"])
    graph = int(rows["RN50/openai"][0].replace(",", ""))
    assert 95_000 < graph < 100_000 and "estimated from the sample datasets' n_test" in out
    for m in definition["models"]:
        assert rows[m["id"]][1:5] == [f"{targets:,}", "0", f"{graph + targets:,}", f"{m['metadata']['image_gflops']:g}"]
    hours = sum((graph + targets) * m["metadata"]["image_gflops"] for m in definition["models"]) / 97.9e3 / 3600
    assert rows["total"][5] == sig(hours)
    code, halved = cli(*base, "--assume-throughput", "48.95")
    assert code == 0 and table(halved)["total"][5] == sig(2 * hours)


def test_assume_throughput_without_dry_run_is_refused_before_anything_runs(tmp_path, cli):
    code, out = cli("-b", "mll-paper", "--registry", str(tmp_path / "reg"), "run", "-m", "mll",
                    "--assume-throughput", "50")
    assert code == 2 and "--assume-throughput goes with --dry-run" in out
    assert not (tmp_path / "reg").exists()
