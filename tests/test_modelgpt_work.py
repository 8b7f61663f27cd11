"""ModelGPT does only the work it reads: a model predicts a sample dataset's seeded class subset,
not the whole dataset, with the same accuracies and results as the whole-dataset path."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from harness import tiny_session
from mllbench.pipeline.run import run_method

VOLATILE = ("created", "elapsed_s", "environment", "timing_s")
MOST = 3  # of the tiny samples' 6 classes


class Totals:
    """A session reporter that keeps each progress line's (description, total)."""

    def __init__(self):
        self.lines: list[tuple[str, int]] = []

    def __call__(self, description: str, total: int):
        self.lines.append((description, total))
        return lambda done, total, **fields: None

    def predicted(self) -> int:
        return sum(total for description, total in self.lines if description.startswith("predict "))


def stable(obj):
    """A result without its volatile keys (times, dates, the machine)."""
    if isinstance(obj, dict):
        return {k: stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [stable(v) for v in obj]
    return obj


def sample_run(tiny_json: str, registry: Path, whole: bool) -> tuple[dict, Totals, object]:
    """ModelGPT on the tiny benchmark with ``MOST`` sample classes; ``whole`` first predicts the
    sample datasets whole (the path before subsets: their predictions are then read)."""
    totals = Totals()
    s = tiny_session(tiny_json, registry, max_sample_classes=MOST, report=totals)
    samples = [e["name"] for e in s.bench.samples]
    if whole:
        s.ensure(s.bench.model_ids, samples, labels=False)
    result, _ = run_method(s, "modelgpt", [t["name"] for t in s.bench.targets], {}, k=1)
    return result, totals, s


def test_modelgpt_predicts_the_class_subset_alone(tiny_json, tmp_path):
    subset, totals, s = sample_run(tiny_json, tmp_path / "subset", whole=False)
    reference, whole_totals, w = sample_run(tiny_json, tmp_path / "whole", whole=True)
    assert stable(subset) == stable(reference)
    samples = [e["name"] for e in s.bench.samples]
    n_models = len(s.bench.model_ids)
    for name in samples:
        labels = s.bench.dataset(name).labels()
        for m in s.bench.model_ids:
            sims, truth = w.predictions(name, m)
            classes = s.sample_classes(name)
            keep = np.isin(truth, classes)
            expected = float(np.mean(classes[sims[keep][:, classes].argmax(1)] == truth[keep]))
            assert s.sample_accuracy(m, name) == expected == w.sample_accuracy(m, name)
            assert not s.has_predictions(name, m)  # the whole dataset was never predicted
        assert len(s.sample_classes(name)) == MOST
    # the targets are predicted whole in both runs; the samples on their subset's images alone
    subset_images = sum(int(np.isin(s.bench.dataset(n).labels(), s.sample_classes(n)).sum()) for n in samples)
    whole_images = sum(len(s.bench.dataset(n)) for n in samples)
    assert totals.predicted() - whole_totals.predicted() == n_models * (subset_images - whole_images) < 0


def test_subset_predictions_are_cached_per_subset(tiny_json, tmp_path):
    _, first, _ = sample_run(tiny_json, tmp_path / "reg", whole=False)
    again = Totals()
    s = tiny_session(tiny_json, tmp_path / "reg", max_sample_classes=MOST, report=again)
    name, model = s.bench.samples[0]["name"], s.bench.model_ids[0]
    s.sample_accuracy(model, name)
    assert first.predicted() > 0 and again.lines == []  # read from the registry: nothing ran
    other = Totals()
    s = tiny_session(tiny_json, tmp_path / "reg", max_sample_classes=MOST - 1, report=other)
    s.sample_accuracy(model, name)  # another subset: its own predictions, every sample dataset at once
    assert [d for d, _ in other.lines] == [f"predict {model} on {e['name']}#classes{MOST - 1}"
                                           for e in s.bench.samples]


@pytest.mark.ray
def test_ray_workers_predict_the_same_class_subsets(tiny_json, tmp_path):
    """A subset is a task by name (``<sample>#classes<most>``): workers open it as the driver does."""
    ray = pytest.importorskip("ray")
    from mllbench.pipeline.ray_executor import RayExecutor

    local = tiny_session(tiny_json, tmp_path / "local", max_sample_classes=MOST)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        executor = RayExecutor(workers=1)
        remote = tiny_session(tiny_json, tmp_path / "ray", max_sample_classes=MOST, executor=executor)
        model = local.bench.model_ids[0]
        for sample in (e["name"] for e in local.bench.samples):
            assert remote.sample_accuracy(model, sample) == local.sample_accuracy(model, sample)
            subset = f"{sample}#classes{MOST}"
            np.testing.assert_array_equal(remote.predictions(subset, model)[0], local.predictions(subset, model)[0])
        executor.close()
    finally:
        ray.shutdown()
