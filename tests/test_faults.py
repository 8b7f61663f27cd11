"""Issue 21 on the tiny benchmark (real open_clip models, HDF5, WordNet): how stored vectors were
made (fingerprints), NaN refused, unreadable images left out, an out-of-memory as one line."""
from __future__ import annotations

import importlib.metadata as md
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import pytest

import harness
from mllbench.core.types import MllbenchError
from mllbench.pipeline.labeling import LabelWriter, MadeOtherwise, label_is_current, label_model
from mllbench.pipeline.run import run_method

pytestmark = pytest.mark.slow


OOM_PLUGIN = Path(__file__).resolve().parent / "thirdparty" / "mllbench-oom"  # provider ``oom-test``


@pytest.fixture(scope="module")
def oom_site(tmp_path_factory) -> Iterator[Path]:
    """tests/thirdparty/mllbench-oom installed as a user installs a plugin (pip, here without an
    index) into a folder on sys.path: its ``oom-test`` models load through its real entry point."""
    pytest.importorskip("setuptools")  # the build backend; --no-build-isolation keeps pip off the index
    work = tmp_path_factory.mktemp("oom-plugin")
    shutil.copytree(OOM_PLUGIN, work / "src")  # pip builds in the tree: not in the checkout
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", "--target", str(work / "site"), str(work / "src")], check=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(work / "site"))
        yield work / "site"


def bench(root: Path, broken: bool = False) -> Path:
    """One tiny model (and an OOM one), one sample dataset, one target task; ``broken``: a
    truncated JPEG and a zero-byte file among the sample images, a zero-byte one in the task."""
    models = harness.make_tiny_models(root, 1)
    models.append({**models[0], "id": "oomy", "provider": "oom-test"})
    samples = harness._imagefolder_tasks(root, "samples", 1, 4)
    targets = harness._imagefolder_tasks(root, "targets", 1, 3)
    if broken:
        folder = root / "samples" / samples[0]["name"] / samples[0]["classes"][0]["folder"]
        png = next(folder.glob("*.png"))
        from PIL import Image

        Image.open(png).convert("RGB").save(folder / "t.jpg")
        data = (folder / "t.jpg").read_bytes()
        (folder / "t.jpg").write_bytes(data[:len(data) // 2])
        (folder / "z.png").write_bytes(b"")
        task_folder = root / "targets" / targets[0]["name"] / targets[0]["classes"][0]["folder"]
        (task_folder / "z.png").write_bytes(b"")
    path = root / "b.json"
    path.write_text(json.dumps({"name": "b", "description": "faults", "models": models, "samples": samples,
                                "targets": targets, "graph": {"images_per_node": 40},
                                "defaults": {"embedder": "hashing"}}))
    return path


def session(path: Path, registry: Path, **fields):
    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import build_host
    from mllbench.pipeline.session import Session
    from mllbench.registry.store import Store

    points = harness.builtin_entry_points() + list(md.distribution("mllbench-oom").entry_points)
    return Session(load_benchmark(build_host(points), str(path)), Store(registry),
                   **{"embedder": "hashing", "batch_size": 4, **fields})


@pytest.fixture(scope="module")
def root(tmp_path_factory, oom_site) -> Path:
    harness.need_open_clip()
    out = tmp_path_factory.mktemp("faults")
    bench(out, broken=True)
    return out


def label(s, model_id: str = "tiny0") -> str:
    graph = s.graph()
    return label_model(s.store, graph, model_id, lambda: s.model(model_id), s.open_image,
                       s.models.batch_size(model_id), None, s.models.run_fingerprint(model_id))


def test_resume_with_another_precision_restarts_the_partial_label(root, tmp_path):
    s = session(root / "b.json", tmp_path / "reg")
    graph = s.graph()
    s.store.label_path("tiny0").parent.mkdir(parents=True)
    with LabelWriter(s.store, graph, "tiny0", 4, s.models.run_fingerprint("tiny0")) as w:  # killed after 1 batch
        w.commit(w.pending()[0], np.ones((len(w.refs(w.pending()[0])), 32), np.float32))
    s.precision = "amp"
    with pytest.warns(MadeOtherwise, match="restarting"):
        assert label(s) == "labeled"
    with h5py.File(s.store.label_path("tiny0")) as f:
        made = json.loads(f.attrs["fingerprint"])
        assert made["precision"] == "amp" and made["device"] == "cpu"
        assert not np.any(np.all(f["image_emb"][:] == 1, axis=1))  # no row of the fp32 partial survived
    s.precision = None  # fp32 now: the finished amp label is not reused
    assert not label_is_current(s.store, graph, "tiny0", s.models.fingerprint("tiny0"))


def test_a_replaced_local_dir_checkpoint_relabels(root, tmp_path):
    import shutil

    work = tmp_path / "bench"
    shutil.copytree(root, work)
    s = session(work / "b.json", tmp_path / "reg")
    assert label(s) == "labeled" and label(s) == "cached"
    with h5py.File(s.store.label_path("tiny0")) as f:
        before = f["image_emb"][:]
    ckpt = work / "tiny0" / "open_clip_model.safetensors"
    shutil.copyfile(harness.make_tiny_models(tmp_path / "other", 2)[1] and tmp_path / "other" / "tiny1" /
                    "open_clip_model.safetensors", ckpt)
    s2 = session(work / "b.json", tmp_path / "reg")
    assert not label_is_current(s2.store, s2.graph(), "tiny0", s2.models.fingerprint("tiny0"))
    assert label(s2) == "labeled"  # not "updated": no row of the old weights is reused
    with h5py.File(s2.store.label_path("tiny0")) as f:
        assert not np.allclose(f["image_emb"][:], before)


def test_a_label_made_before_fingerprints_is_adopted_once(root, tmp_path):
    s = session(root / "b.json", tmp_path / "reg")
    label(s)
    with h5py.File(s.store.label_path("tiny0"), "a") as f:
        f.attrs["fingerprint"] = ""
    s.ensure(["tiny0"], [], labels=True)  # current: nothing runs, the fingerprint is recorded
    with h5py.File(s.store.label_path("tiny0")) as f:
        assert json.loads(f.attrs["fingerprint"])["precision"] == "fp32"


def test_a_nan_row_is_refused_naming_the_model_and_image(root, tmp_path):
    s = session(root / "b.json", tmp_path / "reg")
    s.store.label_path("tiny0").parent.mkdir(parents=True)
    with LabelWriter(s.store, s.graph(), "tiny0", 4) as w:
        start = w.pending()[0]
        emb = np.ones((len(w.refs(start)), 32), np.float32)
        emb[1, 3] = np.nan
        with pytest.raises(MllbenchError, match=f"tiny0 produced NaN/inf for image {w.refs(start)[1]}"):
            w.commit(start, emb)
        assert not w.part["done"][:].any()


def test_unreadable_images_are_listed_left_out_and_the_run_completes(root, tmp_path):
    s = session(root / "b.json", tmp_path / "reg")
    task = s.bench.resolve_tasks("all")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s.ensure(["tiny0"], task)
    listed = [str(w.message) for w in caught if "unreadable image" in str(w.message)]
    assert any("t.jpg" in m for m in listed) and any("z.png" in m for m in listed)
    with h5py.File(s.store.label_path("tiny0")) as f:
        bad = json.loads(f.attrs["unreadable"])
        refs = [r.decode() for r in f["image_refs"][:]]
        rows = [refs.index(r) for r in bad]
        assert len(bad) == 2 and not f["image_emb"][rows].any()  # zero rows: left out
    ds = s.bench.dataset(task[0])
    sims, labels = s.predictions(task[0], "tiny0")
    assert len(sims) == len(labels) == len(ds) - 1
    with warnings.catch_warnings(record=True) as again:  # resumed or rerun: nothing is retried
        warnings.simplefilter("always")
        s2 = session(root / "b.json", tmp_path / "reg")
        s2.ensure(["tiny0"], task)
    assert not [w for w in again if "unreadable image" in str(w.message)]
    s2.bench.models[:] = [m for m in s2.bench.models if m["id"] == "tiny0"]
    result, _ = run_method(s2, "mll", task, {}, k=1)
    assert result["tasks"][task[0]]["unreadable_images"] == 1
    assert result["fingerprints"]["tiny0"]["precision"] == "fp32"


def test_an_out_of_memory_is_one_line_naming_model_batch_flag_and_error(root, tmp_path, monkeypatch):
    from mllbench_oom import MESSAGE  # the plugin's error text (oom_site installed it)

    monkeypatch.setenv("MLLBENCH_PLUGINS", harness.builtin_plugins() + ",oom-test")
    s = session(root / "b.json", tmp_path / "reg")
    with pytest.raises(MllbenchError) as err:
        s.ensure(["oomy"], [], labels=True)
    message = str(err.value)
    assert "\n" not in message
    assert "oomy ran out of memory at batch size 4" in message and "--batch-size oomy=2" in message
    assert "--model-option oomy:precision=amp" in message
    assert message.endswith(f"; the error: OutOfMemoryError: {MESSAGE}")  # torch's own text
