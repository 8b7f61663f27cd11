"""Zero-shot evaluation (Eq. 1) of hub models on tasks, cached in the registry.

The cache holds each model's cosine similarities on each task, so scoring a
selector afterwards (reuse, Eqs. 8-10, and the oracle) runs no model.
"""
from __future__ import annotations

import hashlib
import warnings
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


class UnreadableImage(UserWarning):
    """An image that does not decode (truncated, empty, not an image): listed, left out, the run goes on."""


def read_images(load: Callable[[Any], Any], items: Sequence[Any]) -> tuple[list[Any], dict[int, str]]:
    """The images of ``items`` that decode, and {position in items: "item: error"} for the rest.

    A dataset source signals an image it cannot decode with an OSError naming the file (PIL's own
    errors are OSErrors; the built-in sources turn the rest into one): one bad file among ~148k
    then costs its row, not the run, and each is listed (an ``UnreadableImage`` warning).
    """
    images, bad = [], {}
    for j, item in enumerate(items):
        try:
            images.append(load(item))
        except OSError as exc:
            bad[j] = unreadable(item, exc)
    return images, bad


def unreadable(item: Any, exc: BaseException | str) -> str:
    """"item: error", listed (``list_unreadable``): the row of an image that did not decode."""
    error = f"{item}: {exc}"
    list_unreadable(error, stacklevel=4)
    return error


def list_unreadable(error: str, stacklevel: int = 2) -> None:
    """The ``UnreadableImage`` warning of an image left out; the Ray driver lists its workers' too
    (theirs went to the worker logs), so a run says the same wherever its images were read."""
    warnings.warn(f"unreadable image {error} (left out)", UnreadableImage, stacklevel=stacklevel)


def zero_shot(model: VisionLanguageModel, ds: ImageDataset, batch_size: int = 64,
              progress: Progress | None = None, unreadable: dict[int, str] | None = None) -> np.ndarray:
    """Cosine similarities (n_images, n_classes) of a model on a dataset; the rows of images that do
    not decode are left out, and ``unreadable`` (when given) gets {image index: error} for them."""
    text = class_embeddings(model, ds.info)
    out = np.empty((len(ds), len(ds.info.classnames)), np.float32)
    keep = np.ones(len(ds), bool)
    for start in range(0, len(ds), batch_size):
        idx = range(start, min(start + batch_size, len(ds)))
        images, bad = read_images(ds.image, idx)
        rows = [i for j, i in enumerate(idx) if j not in bad]
        if rows:
            out[rows] = batch_similarities(model, text, images)
        for j, error in bad.items():
            keep[idx[j]] = False
            if unreadable is not None:
                unreadable[idx[j]] = error
        if progress:
            progress(idx.stop, len(ds))
    return out if keep.all() else out[keep]


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> list[float | None]:
    """Top-1 accuracy on each class's images; None for a class without images."""
    return [float(np.mean(pred[labels == c] == c)) if np.any(labels == c) else None for c in range(n_classes)]


def cached_predictions(store: Store, ds: ImageDataset, model_id: str,
                       fingerprint: dict | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    return store.load_predictions(ds.info.name, model_id, task_hash(ds), fingerprint)


def predict(store: Store, ds: ImageDataset, model_id: str, model: VisionLanguageModel,
            batch_size: int = 64, progress: Progress | None = None,
            fingerprint: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cached zero-shot similarities of a model on a task (computed if missing), recorded with
    how the model computed (``fingerprint``)."""
    cached = cached_predictions(store, ds, model_id, fingerprint)
    if cached is not None:
        return cached
    unreadable: dict[int, str] = {}
    sims = zero_shot(model, ds, batch_size, progress, unreadable)
    labels = np.delete(ds.labels(), sorted(unreadable))
    store.save_predictions(ds.info.name, model_id, task_hash(ds), sims, labels, fingerprint,
                           [unreadable[i] for i in sorted(unreadable)])
    return sims, labels
