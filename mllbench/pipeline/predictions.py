"""Hub models' zero-shot predictions as a session reads them: the registry's cache, accuracies,
and the seeded class subsets of the sample datasets."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from mllbench.core.types import TaskInfo
from mllbench.host.subsets import class_subset, subset_name
from mllbench.pipeline.evaluate import cached_predictions, task_hash

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


class Predictions:
    """Owns the predictions read so far (each file once per session) and the sample datasets'
    accuracies; asks the session's executor (``Session.ensure``) for what the registry lacks.
    Checking whether a prediction is cached opens no dataset when its file is not there."""

    def __init__(self, session: "Session"):
        self._session = session
        self._read: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._sample_accuracy: dict[tuple[str, str], float] = {}

    def stored(self, task: str, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Cached predictions of the task's current version; for a task whose data is not on this
        machine (a copied registry), whatever the registry holds, unchecked."""
        key = (task, model_id)
        if key not in self._read:
            bench, store = self._session.bench, self._session.store
            if bench.on_disk(task):
                found = cached_predictions(store, bench.dataset(task), model_id,
                                           self._session.models.fingerprint(model_id))
            else:
                found = store.load_predictions(task, model_id, None)
            if found is None:
                return None
            self._read[key] = found
        return self._read[key]

    def has(self, task: str, model_id: str) -> bool:
        """Whether ``stored`` would find them, reading no array: ``ensure`` asks this for every
        model and task, most of which a run never reads."""
        if (task, model_id) in self._read:
            return True
        bench, store = self._session.bench, self._session.store
        if not store.prediction_path(task, model_id).exists():
            return False  # before the task's version: that opens its dataset
        if not bench.on_disk(task):
            return store.has_predictions(task, model_id, None)
        return store.has_predictions(task, model_id, task_hash(bench.dataset(task)),
                                     self._session.models.fingerprint(model_id))

    def get(self, task: str, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Cached predictions, made first (the model runs) when the registry lacks them."""
        cached = self.stored(task, model_id)
        if cached is None:
            self._session.ensure([model_id], [task], labels=False)
            cached = self.stored(task, model_id)
        return cached

    def accuracy(self, model_id: str, task: str, classes: np.ndarray | None = None) -> float:
        """Zero-shot top-1; with ``classes``, among those classes on their images only."""
        sims, labels = self.get(task, model_id)
        if classes is None:
            return float(np.mean(sims.argmax(1) == labels))
        keep = np.isin(labels, classes)
        return float(np.mean(classes[sims[keep][:, classes].argmax(1)] == labels[keep]))

    def sample_classes(self, task: str) -> np.ndarray:
        """A seeded subset of at most ``max_sample_classes`` classes of a sample dataset.

        Text-only selectors (ModelGPT) compute features per class on sample
        datasets; at 1,000+ classes that is most of their cost, so they see a
        fixed subset, and their ground truth is measured on the same subset.
        """
        n = len(self._session.bench.task_info(task).classnames)
        return class_subset(task, n, self._session.max_sample_classes)

    def sample_source(self, task: str, model_id: str) -> str:
        """Where a model's sample accuracy is read: the whole dataset's predictions when the subset is
        all of it or they are cached already, else the subset's own (``subset_name``), for which the
        model encodes the subset's images alone."""
        most = self._session.max_sample_classes
        if most is None or len(self._session.bench.task_info(task).classnames) <= most or self.has(task, model_id):
            return task
        return subset_name(task, most)

    def sample_accuracy(self, model_id: str, task: str) -> float:
        """A model's accuracy on a sample dataset's class subset (ModelGPT's regression target).

        Once per session. A missing prediction brings the model's predictions on every
        sample dataset at once: one model load, not one per dataset.
        """
        key = (model_id, task)
        if key not in self._sample_accuracy:
            source = self.sample_source(task, model_id)
            if not self.has(source, model_id):
                sources = [self.sample_source(s["name"], model_id) for s in self._session.bench.samples]
                self._session.ensure([model_id], sources, labels=False)
            classes = self.sample_classes(task) if source == task else None
            self._sample_accuracy[key] = self.accuracy(model_id, source, classes)
        return self._sample_accuracy[key]

    def sample_task(self, task: str) -> TaskInfo:
        """A sample dataset's task with its ``sample_classes`` only."""
        info = self._session.bench.task_info(task)
        return replace(info, classnames=tuple(info.classnames[i] for i in self.sample_classes(task)))
