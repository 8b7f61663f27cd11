"""Graph image refs name their dataset's version: a copy of another version (a Ray worker's own
data, files changed since the graph was built) refuses a ref instead of opening another image."""
from __future__ import annotations

import shutil

import pytest

import harness
from mllbench.core.types import MllbenchError


def test_a_ref_opens_only_on_the_version_it_names(tiny_bench_dir, tmp_path):
    root = tmp_path / "bench"
    shutil.copytree(tiny_bench_dir, root)
    driver = harness.tiny_session(root / "tiny.json", tmp_path / "reg")
    ref = driver.graph().image_refs[0]
    name, version = ref.rpartition(":")[0].split("@")
    first = driver.open_image(ref)
    ds = driver.bench.dataset(name)
    assert first.tobytes() == ds.image(int(ref.rpartition(":")[2])).tobytes()
    target = sorted((root / driver.bench.task_entry(name)["root"]).rglob("*.png"))[0]
    shutil.copy(target, target.with_name("0-added.png"))  # sorts first: every later index shifts
    worker = harness.tiny_session(root / "tiny.json", tmp_path / "reg")  # a worker's view of the data now
    now = worker.bench.dataset(name).metadata["version"]
    assert now != version
    with pytest.raises(MllbenchError, match=f"version {version}, but the copy here is version {now}"):
        worker.open_image(ref)
    worker.open_image(f"{name}@{now}:0")  # a ref of the version here opens
