"""Sample datasets cut to a seeded subset of their classes, each a task of its own name.

ModelGPT reads a sample dataset's accuracy on at most ``Session.max_sample_classes`` of its
classes; the subset is drawn from the task's name alone, so a Ray worker and a later run draw
the same, and its predictions are cached under the subset's own name.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import numpy as np

from mllbench.core.types import ImageDataset

SUBSET_MARK = "#classes"  # "<sample dataset>#classes<most>": its seeded class subset, as a task of its own


def class_subset(task: str, n_classes: int, most: int | None) -> np.ndarray:
    """The seeded subset of at most ``most`` of a sample dataset's ``n_classes`` classes (all when
    ``most`` is None or not fewer): a function of the task's name, so a Ray worker draws the same."""
    if most is None or n_classes <= most:
        return np.arange(n_classes)
    rng = np.random.default_rng(int(hashlib.sha256(task.encode()).hexdigest()[:8], 16))
    return np.sort(rng.choice(n_classes, most, replace=False))


def subset_name(task: str, most: int) -> str:
    """The name of a sample dataset's class subset (``Benchmark.dataset`` opens it): ModelGPT's
    targets are predicted and cached on the subset alone, not on the whole dataset."""
    return f"{task}{SUBSET_MARK}{most}"


class ClassSubset:
    """A dataset's images of some of its classes, labelled 0..k-1 in the order of ``classes``
    (sorted): its class embeddings and similarities are the whole dataset's columns ``classes``
    on these images, so its accuracy is the whole predictions' accuracy among those classes."""

    def __init__(self, base: ImageDataset, name: str, classes: np.ndarray):
        labels = base.labels()
        self._rows = np.flatnonzero(np.isin(labels, classes))
        self._labels = np.searchsorted(classes, labels[self._rows])
        self.info = replace(base.info, name=name, classnames=tuple(base.info.classnames[i] for i in classes))
        self.wnids = None if base.wnids is None else tuple(base.wnids[i] for i in classes)
        self.metadata = base.metadata
        self._base = base

    def __len__(self) -> int:
        return len(self._rows)

    def labels(self) -> np.ndarray:
        return self._labels

    def image(self, index: int) -> Any:
        return self._base.image(int(self._rows[index]))
