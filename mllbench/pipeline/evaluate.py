"""Zero-shot evaluation (Eq. 1) of hub models on tasks, cached in the registry.

The cache holds each model's cosine similarities on each task, so scoring a
selector afterwards (reuse, Eqs. 8-10, and the oracle) runs no model.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

import numpy as np

from mllbench.maths.mll import l2_normalize
from mllbench.registry.store import Store, canonical_compute
from mllbench.core.types import ImageDataset, TaskInfo, VisionLanguageModel

Progress = Callable[[int, int], None]


def task_hash(ds: ImageDataset) -> str:
    """Content key of a task version: classes, prompts, size, source version."""
    info = ds.info
    parts = [info.name, *info.classnames, "|", *info.templates, "|", str(len(ds)),
             str(ds.metadata.get("version", ""))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def class_embeddings(model: VisionLanguageModel, info: TaskInfo) -> np.ndarray:
    """Prompt-ensemble class embeddings: mean of normalised prompts, renormalised. Each prompt
    is encoded canonically (``canonical_compute``), so the result does not depend on --batch-size."""
    prompts = [t.format(c) for c in info.classnames for t in info.templates]
    emb = canonical_compute(model.encode_texts, prompts).reshape(len(info.classnames), len(info.templates), -1)
    return l2_normalize(l2_normalize(emb).mean(axis=1))


def batch_similarities(model: VisionLanguageModel, text: np.ndarray, images: Sequence[Any]) -> np.ndarray:
    """One batch of Eq. 1's cosines; the local loop and cluster workers both call this (same floats)."""
    return l2_normalize(model.encode_images(images)) @ text.T


def zero_shot(model: VisionLanguageModel, ds: ImageDataset, batch_size: int = 64,
              progress: Progress | None = None) -> np.ndarray:
    """Cosine similarities (n_images, n_classes) of a model on a dataset."""
    text = class_embeddings(model, ds.info)
    out = np.empty((len(ds), len(ds.info.classnames)), np.float32)
    for start in range(0, len(ds), batch_size):
        idx = range(start, min(start + batch_size, len(ds)))
        out[idx.start:idx.stop] = batch_similarities(model, text, [ds.image(i) for i in idx])
        if progress:
            progress(idx.stop, len(ds))
    return out


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> list[float | None]:
    """Top-1 accuracy on each class's images; None for a class without images."""
    return [float(np.mean(pred[labels == c] == c)) if np.any(labels == c) else None for c in range(n_classes)]


def cached_predictions(store: Store, ds: ImageDataset, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    return store.load_predictions(ds.info.name, model_id, task_hash(ds))


def predict(store: Store, ds: ImageDataset, model_id: str, model: VisionLanguageModel,
            batch_size: int = 64, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cached zero-shot similarities of a model on a task (computed if missing)."""
    cached = cached_predictions(store, ds, model_id)
    if cached is not None:
        return cached
    sims = zero_shot(model, ds, batch_size, progress)
    store.save_predictions(ds.info.name, model_id, task_hash(ds), sims, ds.labels())
    return sims, ds.labels()
