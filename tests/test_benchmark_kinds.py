"""Benchmark kinds (mllbench/host/benchmark.py): a definition's "kind" picks the class, and what
differs between an image benchmark and a score table is the kind's answer, through a real
Session on the shipped definitions (the embedded benchmark, LOVM on generated tables)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lovm_tables
from mllbench.core.types import MllbenchError
from mllbench.host.benchmark import ImageBenchmark, TableBenchmark, load_benchmark, short_hash
from mllbench.host.lovm import PUBLISHED
from mllbench.host.plugins import Host, get_host
from mllbench.pipeline.session import Session
from mllbench.pipeline.truth import COMPUTES, cached_truth, ground_truth
from mllbench.registry.store import Store


@pytest.fixture
def table_session(lovm_table, monkeypatch, tmp_path):
    """A Session on `-b lovm` over generated LOVM tables; a function that makes one on another name."""
    monkeypatch.setenv("MLLBENCH_LOVM_DIR", str(lovm_table))

    def make(name: str = "lovm") -> Session:
        return Session(load_benchmark(get_host(), name), Store(tmp_path / "registry" / name), embedder="hashing")
    return make


def test_the_definitions_kind_names_the_class(table_session):
    embedded = load_benchmark(get_host(), "embedded")
    assert type(embedded) is ImageBenchmark and embedded.needs_graph and embedded.table is None
    assert embedded.content_hash() == short_hash(embedded.path.read_text())
    assert embedded.no_images() is None and embedded.published() is None
    lovm, recall = table_session("lovm").bench, table_session("lovm-recall").bench
    assert type(lovm) is TableBenchmark and not lovm.needs_graph and lovm.table is not None
    assert "is a score table" in lovm.no_images()
    assert lovm.published() == PUBLISHED["acc1"] and recall.published() == PUBLISHED["mean_per_class_recall"]
    assert lovm.model_ids == list(lovm.table.models) and [t["name"] for t in lovm.targets] == list(lovm.table.tasks)


def test_an_unknown_kind_is_a_one_line_error_naming_the_kinds(tmp_path):
    path = tmp_path / "video.json"
    path.write_text(json.dumps({"name": "video", "kind": "video", "models": [], "targets": []}))
    with pytest.raises(MllbenchError) as err:
        load_benchmark(get_host(), str(path))
    assert str(err.value) == f"benchmark definition {path} has the unknown kind 'video'; use one of image, table"


def test_a_score_tables_hash_covers_its_values(lovm_table, monkeypatch, tmp_path):
    def content_hash(directory: Path) -> str:
        monkeypatch.setenv("MLLBENCH_LOVM_DIR", str(directory))
        return load_benchmark(get_host(), "lovm").content_hash()

    same = lovm_tables.make_lovm_tables(tmp_path / "same")
    other = lovm_tables.make_lovm_tables(tmp_path / "other", seed=1)
    assert content_hash(lovm_table) == content_hash(same) != content_hash(other)


def test_a_score_table_selects_reads_and_scores_from_its_table(table_session):
    session = table_session()
    bench, table = session.bench, session.bench.table
    task = table.tasks[0]
    ctx = session.context(task, {})
    assert [t.name for t in ctx.sample_tasks] == [t for t in table.tasks if t != task]  # leave-one-dataset-out
    other = table.tasks[1]
    assert ctx.sample_accuracy(table.models[2], other) == table.accuracy[2, table.column(other)]
    assert ctx.precomputed(task).keys() == table.features.keys()
    with pytest.raises(MllbenchError, match="needs no model labels \\(inb, modelgpt\\)"):
        ctx.labels.n_images
    # the ground truth is the table, read without a run
    np.testing.assert_array_equal(ground_truth(session, table.tasks[:3]), table.accuracy[:, :3])
    truth, note = cached_truth(session, table.tasks[:3])
    assert note == "" and np.array_equal(truth, table.accuracy[:, :3])
    # no reuse on a table: the top-scored model's table accuracy, k = 1 only
    scores = np.zeros((len(bench.models), 1))
    scores[3] = 1.0
    assert bench.outcome(session, task, scores, 1, 100.0, "inverse-entropy") == {
        "accuracy": float(table.accuracy[3, table.column(task)]), "models_used": [table.models[3]]}
    assert bench.graph_hash(session) is None
    with pytest.raises(MllbenchError, match="is a table with no images to ensemble on; use --k 1"):
        bench.check_reuse(2)


def test_an_image_benchmarks_ground_truth_is_read_or_named_never_computed(tmp_path, monkeypatch):
    """The embedded benchmark on an empty registry: no dataset opens and no model loads to learn that
    none of its 9 x 11 predictions is there; reading says which command computes them."""
    opened: list[tuple[str, str]] = []
    get = Host.get

    def recorded(self: Host, kind: str, name: str):
        if kind in ("model provider", "dataset source"):
            opened.append((kind, name))
        return get(self, kind, name)
    monkeypatch.setattr(Host, "get", recorded)
    session = Session(load_benchmark(get_host(), "embedded"), Store(tmp_path / "registry"), embedder="hashing")
    tasks = session.bench.resolve_tasks("all")
    note = f"the registry lacks 99 of the 99 model × task predictions the ground truth needs; {COMPUTES}"
    assert cached_truth(session, tasks) == (None, note)
    with pytest.raises(MllbenchError) as err:
        ground_truth(session, tasks)
    assert str(err.value) == note
    assert opened == [] and not (tmp_path / "registry").exists()
