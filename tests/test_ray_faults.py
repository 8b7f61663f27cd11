"""Issue 21's faults through the Ray executor on a real local Ray cluster (2 CPUs): an out-of-memory
on a worker is one line with the real error text and the kept worker logs; unreadable images are
listed and left out as in a local run; a worker refuses a graph image of another data version.

The ``oom-test`` provider is a third-party plugin (tests/thirdparty/mllbench-oom), installed into a
folder that the cluster's Python finds (``PYTHONPATH`` when Ray starts, as a node's site-packages):
workers load it through its entry point, chosen by the driver's ``MLLBENCH_PLUGINS``.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import h5py
import pytest

import harness
from mllbench.core.types import MllbenchError
from mllbench.pipeline.evaluate import UnreadableImage
from mllbench.pipeline.executors import RayExecutor
from test_faults import oom_site, root, session  # noqa: F401  (fixtures: the same benchmark and plugin)

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_cluster(oom_site):  # noqa: F811
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:  # the cluster's processes inherit it: the plugin is installed there
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(oom_site), os.environ.get("PYTHONPATH")) if p))
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    ray.shutdown()


def ensure_on_ray(s, model_ids: list[str], tasks: list[str]) -> None:
    s.executor = RayExecutor(workers=1, shard_batches=1)
    try:
        s.ensure(model_ids, tasks)
    finally:
        s.executor.close()


def test_an_out_of_memory_on_a_worker_is_one_line_with_the_real_error_and_the_logs(
        ray_cluster, root, tmp_path, monkeypatch):  # noqa: F811
    from mllbench_oom import MESSAGE  # the plugin's error text (oom_site installed it)

    monkeypatch.setenv("MLLBENCH_PLUGINS", harness.builtin_plugins() + ",oom-test")  # forwarded to the workers
    s = session(root / "b.json", tmp_path / "reg")
    with pytest.raises(MllbenchError) as err:
        ensure_on_ray(s, ["oomy"], [])
    message = str(err.value)
    assert "\n" not in message
    assert "oomy ran out of memory at batch size 4" in message and "--batch-size oomy=2" in message
    assert "--model-option oomy:precision=amp" in message
    assert f"the worker said OutOfMemoryError: {MESSAGE};" in message  # its own text
    assert "retr" not in message and "restart" not in message  # Ray retries no error a model raises
    log = Path(message.split("its log: ")[1].split()[0])  # worker-*-<pid>.err in the session's log folder
    kept = [f.read_text(errors="replace") for f in log.parent.glob(log.name)]
    assert len(kept) == 1 and "Traceback" in kept[0] and MESSAGE in kept[0]  # the worker's traceback, kept


def test_unreadable_images_on_workers_are_listed_and_left_out_as_locally(ray_cluster, root, tmp_path):  # noqa: F811
    s = session(root / "b.json", tmp_path / "reg")
    task = s.bench.resolve_tasks("all")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ensure_on_ray(s, ["tiny0"], task)
    listed = [str(w.message) for w in caught if "unreadable image" in str(w.message)]
    assert any("t.jpg" in m for m in listed) and any("z.png" in m for m in listed)  # in the driver, not the logs
    local = session(root / "b.json", tmp_path / "local")
    with pytest.warns(UnreadableImage):
        local.ensure(["tiny0"], task)
    for store in (s.store, local.store):
        with h5py.File(store.label_path("tiny0")) as f:
            assert len(json.loads(f.attrs["unreadable"])) == 2
    with h5py.File(s.store.label_path("tiny0")) as ray_label, h5py.File(local.store.label_path("tiny0")) as own:
        assert json.loads(ray_label.attrs["unreadable"]).keys() == json.loads(own.attrs["unreadable"]).keys()
        assert (ray_label["image_emb"][:] == own["image_emb"][:]).all()
    sims, labels = s.predictions(task[0], "tiny0")
    assert len(sims) == len(labels) == len(s.bench.dataset(task[0])) - 1
    assert (sims == local.predictions(task[0], "tiny0")[0]).all()


def test_a_worker_refuses_a_graph_image_of_another_data_version(ray_cluster, root, tmp_path):  # noqa: F811
    work = tmp_path / "bench"
    shutil.copytree(root, work)
    s = session(work / "b.json", tmp_path / "reg")
    ref = s.graph().image_refs[0]  # the driver's graph, of the data as it was
    dataset = ref.rpartition(":")[0].split("@")[0]
    folder = next((work / s.bench.task_entry(dataset)["root"]).rglob("*.png")).parent
    shutil.copy(next(folder.glob("*.png")), folder / "0-added.png")  # the workers' copy changes: indices shift
    with pytest.raises(MllbenchError) as err:
        ensure_on_ray(s, ["tiny0"], [])
    message = str(err.value)
    assert "\n" not in message and f"is of {dataset} version" in message and "but the copy here is version" in message
    assert "give every worker the data the graph was built on" in message
