"""A user's own images (``mllbench predict``): listing, folder labels, cached similarities.

Each reused model's cosines on an image set are stored in the registry as a
prediction file (``Store.save_predictions``, written atomically), under a key
made of the file list with sizes and mtimes plus the task's prompts: an
interrupted ``predict`` reruns only the models it had not finished, and a
changed folder or task is never served stale numbers. A file that does not
decode is a NaN row, not an error: it is listed and skipped.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mllbench.pipeline.evaluate import batch_similarities, class_embeddings
from mllbench.registry.store import Store
from mllbench.core.types import MllbenchError, TaskInfo, VisionLanguageModel

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImageSet:
    """Files to classify, in a fixed order; ``names`` are how they are shown (relative to the folder)."""

    files: tuple[Path, ...]
    names: tuple[str, ...]
    root: Path | None  # the folder they were listed from, if one

    @property
    def key(self) -> str:
        """Content key: every file's path, size and mtime (a changed file is a new set)."""
        entries = []
        for path in self.files:
            stat = path.stat()
            entries.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
        return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def list_images(images: str | Path | Sequence[str | Path]) -> ImageSet:
    """A folder (every non-hidden file under it, sorted) or a list of files, as given."""
    if isinstance(images, (str, Path)):
        root = Path(images).expanduser()
        if not root.is_dir():
            raise MllbenchError(f"image folder {root} not found; pass a folder of images (or a list of files)")
        files = sorted(p for p in root.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        names = tuple(str(p.relative_to(root)) for p in files)
    else:
        root, files = None, [Path(p).expanduser() for p in images]
        absent = [str(p) for p in files if not p.is_file()]
        if absent:
            raise MllbenchError(f"{len(absent)} image file(s) not found (first: {absent[0]}); check the paths")
        names = tuple(str(p) for p in files)
    if not files:
        raise MllbenchError(f"no files in {images}; pass a folder with images in it")
    return ImageSet(tuple(files), names, root)


def open_image(path: Path) -> tuple[Any, str | None]:
    """(an RGB PIL image, None), or (None, why not): a bad file must not stop the run."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB"), None
    except UnidentifiedImageError:
        return None, "not an image"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return None, f"unreadable ({exc})"


def similarities(model: VisionLanguageModel, task: TaskInfo, images: ImageSet, batch_size: int,
                 progress: Progress | None = None) -> np.ndarray:
    """Eq. 1's cosines (n_files, n_classes), NaN rows for files that do not decode.

    Batches of ``batch_size`` through ``evaluate.batch_similarities``, the function
    ``run`` uses on a benchmark task, so the same images give the same numbers.
    """
    text = class_embeddings(model, task)
    out = np.full((len(images.files), len(task.classnames)), np.nan, np.float32)
    for start in range(0, len(images.files), batch_size):
        rows, batch = [], []
        for i, path in enumerate(images.files[start:start + batch_size], start):
            image, _ = open_image(path)
            if image is not None:
                rows.append(i)
                batch.append(image)
        if batch:
            out[rows] = batch_similarities(model, text, batch)
        if progress:
            progress(min(start + batch_size, len(images.files)), len(images.files))
    return out


def cache_keys(task: TaskInfo, images: ImageSet) -> tuple[str, str]:
    """(the registry's task name for this image set, the hash of the set and the task's prompts)."""
    set_key = images.key
    prompts = [t.format(c) for c in task.classnames for t in task.templates]
    prompt_key = hashlib.sha256("\0".join([set_key, *prompts]).encode()).hexdigest()[:16]
    return f"images-{set_key}", prompt_key


def cached_similarities(store: Store, model_id: str, task: TaskInfo, images: ImageSet,
                        compute: Callable[[], np.ndarray], labels: np.ndarray) -> np.ndarray:
    """A model's similarities on the set from the registry, else ``compute()`` stored atomically."""
    name, key = cache_keys(task, images)
    cached = store.load_predictions(name, model_id, key)
    if cached is not None:
        return cached[0]
    sims = compute()
    # the files that do not decode are whole NaN rows (``similarities``); any other NaN is refused
    store.save_predictions(name, model_id, key, sims, labels, nan_rows=np.isnan(sims).all(axis=1))
    return sims


def normal(name: str) -> str:
    """A class or folder name compared loosely: case, ``_``/``-`` and spacing ignored."""
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


def folder_labels(images: ImageSet, classnames: Sequence[str]) -> np.ndarray | None:
    """Each file's class index from its top folder (``DIR/<class>/...``), -1 for a file in no
    class folder; None for a list of files, or a folder with no class folder in it."""
    if images.root is None:
        return None
    index = {normal(c): i for i, c in enumerate(classnames)}
    tops = [path.relative_to(images.root).parts for path in images.files]
    labels = np.array([index.get(normal(parts[0]), -1) if len(parts) > 1 else -1 for parts in tops], np.int64)
    return labels if (labels >= 0).any() else None
