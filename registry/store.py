"""The HDF5 registry: semantic graph, model labels, predictions, text caches.

Layout under one root directory (one HDF5 file per model and per
(task, model), which bounds both lock contention and what a crash can hurt):

    graph.h5                    the semantic graph (nodes, edges, node images)
    labels/<model>.h5           per-model label: image and node-caption embeddings
    labels/<model>.partial.h5   an interrupted labeling run, resumed next time
    predictions/<task>/<model>.h5   zero-shot cosine similarities on a task
    text/<model>.h5             the model's text embeddings, keyed by text hash
    embeddings/<embedder>.h5    caption embeddings, keyed by text hash
    results/<benchmark>/<method>/<run>.json

Every complete file is written to a temporary name and moved into place with
``os.replace``, so a reader never sees half a file. Each carries
``schema_version`` and the hashes it was computed on; a mismatch is an error
that names the fix. No pickle: only numeric and string datasets.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

from mllbench.types import MllbenchError

SCHEMA_VERSION = 1
STR = h5py.string_dtype("utf-8")


def text_key(text: str) -> bytes:
    """Content key of a text (captions, prompts): sha1 hex as bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest().encode()


def slug(name: str) -> str:
    """A file-safe, collision-free name for a model or task id."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80]
    return f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; moved in place if the block succeeds, removed if not.

    Every whole-file write of mllbench goes through here, so a reader never
    sees half a file and an interrupted write leaves nothing behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_h5(path: Path) -> Iterator[h5py.File]:
    """Write a whole HDF5 file under a temporary name, then move it in place."""
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            yield f
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())


def open_checked(path: Path, what: str) -> h5py.File:
    """Open a registry file for reading, checking its schema version."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise MllbenchError(f"cannot read {what} at {path} ({exc}); delete it and rerun") from exc
    version = int(f.attrs.get("schema_version", -1))
    if version != SCHEMA_VERSION:
        f.close()
        raise MllbenchError(f"{what} at {path} has schema {version}, this mllbench reads "
                            f"{SCHEMA_VERSION}; delete it and rerun `mllbench label`")
    return f


class KeyedArrays:
    """A text -> vector cache in one HDF5 file (model text encoders, embedders)."""

    def __init__(self, path: Path, meta: dict[str, str]):
        self.path, self.meta = path, meta
        self._keys: dict[bytes, int] = {}
        self._data: np.ndarray | None = None
        if path.exists():
            with open_checked(path, "text cache") as f:
                for name, value in meta.items():
                    if f.attrs.get(name) != value:
                        raise MllbenchError(f"text cache {path} was made with {name}="
                                            f"{f.attrs.get(name)!r}, not {value!r}; delete it")
                keys, self._data = f["key"][:], f["value"][:]
            self._keys = {k: i for i, k in enumerate(keys)}

    def get(self, texts: Sequence[str], compute) -> np.ndarray:
        """Vectors for ``texts``, computing (and storing) only the missing ones."""
        keys = [text_key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in self._keys}.items())
        if missing:
            new = np.asarray(compute([t for _, t in missing]), dtype=np.float32)
            start = 0 if self._data is None else len(self._data)
            self._data = new if self._data is None else np.concatenate([self._data, new])
            for i, (k, _) in enumerate(missing):
                self._keys[k] = start + i
            self._save()
        return self._data[[self._keys[k] for k in keys]] if keys else np.zeros((0, 0), np.float32)

    def _save(self) -> None:
        keys = sorted(self._keys, key=self._keys.get)
        with Store.locked(self.path.parent), atomic_h5(self.path) as f:
            f.attrs.update(self.meta)
            f["key"] = np.array(keys, dtype="S40")
            f["value"] = self._data


class Store:
    """Paths and locking for one registry root."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @staticmethod
    @contextlib.contextmanager
    def locked(directory: Path) -> Iterator[None]:
        """One writer at a time per directory (advisory flock)."""
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @property
    def graph_path(self) -> Path:
        return self.root / "graph.h5"

    def label_path(self, model_id: str, partial: bool = False) -> Path:
        return self.root / "labels" / (slug(model_id) + (".partial.h5" if partial else ".h5"))

    def prediction_path(self, task: str, model_id: str) -> Path:
        return self.root / "predictions" / slug(task) / (slug(model_id) + ".h5")

    def text_cache(self, model_id: str) -> KeyedArrays:
        return KeyedArrays(self.root / "text" / (slug(model_id) + ".h5"), {"model_id": model_id})

    def embedding_cache(self, embedder: str) -> KeyedArrays:
        return KeyedArrays(self.root / "embeddings" / (slug(embedder) + ".h5"), {"embedder": embedder})

    def results_dir(self, benchmark: str) -> Path:
        return self.root / "results" / slug(benchmark)

    # --- predictions -------------------------------------------------------
    def save_predictions(self, task: str, model_id: str, task_hash: str,
                         sims: np.ndarray, labels: np.ndarray) -> None:
        """Store a model's cosine similarities (n_images, n_classes) on a task."""
        path = self.prediction_path(task, model_id)
        with atomic_h5(path) as f:
            f.attrs.update({"task": task, "model_id": model_id, "task_hash": task_hash})
            f.create_dataset("sims", data=np.asarray(sims, np.float32), compression="gzip")
            f["labels"] = np.asarray(labels, np.int32)

    def load_predictions(self, task: str, model_id: str,
                         task_hash: str | None) -> tuple[np.ndarray, np.ndarray] | None:
        """Cached predictions, or None when missing or computed on another task version.

        ``task_hash=None`` takes whatever is stored: for a task whose data is
        not on this machine, whose version therefore cannot be checked.
        """
        path = self.prediction_path(task, model_id)
        if not path.exists():
            return None
        with open_checked(path, "prediction cache") as f:
            if task_hash is not None and f.attrs["task_hash"] != task_hash:
                return None
            return f["sims"][:], f["labels"][:]


def save_graph(store: Store, graph) -> None:
    """Persist a :class:`mllbench.graph.SemanticGraph` atomically."""
    with Store.locked(store.root), atomic_h5(store.graph_path) as f:
        f.attrs.update({"hash": graph.hash, "node_hash": graph.node_hash,
                        "image_hash": graph.image_hash, "settings": graph.settings,
                        "sources": graph.sources})
        for name in ("wnids", "names", "captions", "image_refs"):
            f.create_dataset(name, data=np.array(getattr(graph, name), dtype=object), dtype=STR)
        for name in ("edges", "node_ptr", "node_images"):
            f[name] = getattr(graph, name)


def load_graph(store: Store):
    """The stored graph, or None if no graph was built yet."""
    from mllbench.graph import SemanticGraph

    if not store.graph_path.exists():
        return None
    with open_checked(store.graph_path, "semantic graph") as f:
        strings = {n: tuple(s.decode() if isinstance(s, bytes) else s for s in f[n][:])
                   for n in ("wnids", "names", "captions", "image_refs")}
        graph = SemanticGraph(edges=f["edges"][:], node_ptr=f["node_ptr"][:],
                              node_images=f["node_images"][:], settings=f.attrs["settings"],
                              sources=f.attrs.get("sources", ""), **strings)
        if graph.hash != f.attrs["hash"]:
            raise MllbenchError(f"semantic graph {store.graph_path} is corrupt (hash mismatch); delete it")
    return graph
