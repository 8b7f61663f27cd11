"""The HDF5 registry: semantic graph, model labels, predictions, text caches.

Layout under one root directory (one HDF5 file per model and per
(task, model), which bounds both lock contention and what a crash can hurt):

    graph.h5                    the semantic graph (nodes, edges, node images)
    labels/<model>.h5           per-model label: image and node-caption embeddings
    labels/<model>.partial.h5   an interrupted labeling run, resumed next time
    predictions/<task>/<model>.h5   zero-shot cosine similarities on a task
    text/<model>.h5             the model's text embeddings, keyed by text hash
    text/<model>.h5.parts/      rows added since, one small file per miss (compacted later)
    embeddings/<embedder>.h5    caption embeddings, keyed by text hash (and .parts/)
    captions/<captioner>.json   class captions, keyed by (class, domain, task type)
    results/<benchmark>/<method>/<run>.json

Every complete file is written to a temporary name and moved into place with
``os.replace``, so a reader never sees half a file. Each carries
``schema_version`` and the hashes it was computed on; a mismatch is an error
that names the fix. No pickle: only numeric and string datasets.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from mllbench.core.files import atomic_file, slug  # noqa: F401 - part of the registry's API
from mllbench.core.types import MllbenchError
# the registry's API, in three modules: file primitives, caches, and the store (paths, predictions, graph)
from mllbench.registry.caches import (CANONICAL_BATCHING, CHUNK_TEXTS, KeyedArrays, KeyedCaptions,  # noqa: F401
                                      OneTorchThread, canonical_compute)
from mllbench.registry.files import (ENVIRONMENT_KEYS, SCHEMA_VERSION, STR, atomic_h5, check_finite,  # noqa: F401
                                     fingerprint_json, locked, open_checked, same_make, text_key)


class Store:
    """Paths and locking for one registry root."""

    def __init__(self, root: Path):
        self.root = Path(root)

    locked = staticmethod(locked)  # one writer at a time per directory (registry.files.locked)

    @property
    def graph_path(self) -> Path:
        return self.root / "graph.h5"

    def label_path(self, model_id: str, partial: bool = False) -> Path:
        return self.root / "labels" / (slug(model_id) + (".partial.h5" if partial else ".h5"))

    def prediction_path(self, task: str, model_id: str) -> Path:
        return self.root / "predictions" / slug(task) / (slug(model_id) + ".h5")

    def text_cache(self, model_id: str, fingerprint: dict | None = None) -> KeyedArrays:
        return KeyedArrays(self.root / "text" / (slug(model_id) + ".h5"), {"model_id": model_id}, fingerprint)

    def embedding_cache(self, embedder: str) -> KeyedArrays:
        return KeyedArrays(self.root / "embeddings" / (slug(embedder) + ".h5"), {"embedder": embedder})

    def caption_cache(self, captioner: str, version: str) -> KeyedCaptions:
        """Captions of ``captioner`` (a spec such as ``gpt:gpt-4``) at its plugin's ``version``."""
        return KeyedCaptions(self.root / "captions" / (slug(f"{captioner}@{version}") + ".json"))

    def results_dir(self, benchmark: str) -> Path:
        return self.root / "results" / slug(benchmark)

    # --- predictions -------------------------------------------------------
    def save_predictions(self, task: str, model_id: str, task_hash: str, sims: np.ndarray, labels: np.ndarray,
                         fingerprint: dict | None = None, unreadable: Sequence[str] = (),
                         nan_rows: np.ndarray | None = None) -> None:
        """Store a model's cosine similarities (n_images, n_classes) on a task, how they were made,
        and the images left out as unreadable (``sims`` and ``labels`` have no rows for them).
        ``nan_rows`` (a user's image set: a file that does not decode keeps its row, as NaN) are
        the rows meant to be NaN; any other NaN/inf is refused."""
        kept = sims if nan_rows is None else np.asarray(sims)[~np.asarray(nan_rows, bool)]
        check_finite(kept, model_id, lambda row: f"image {row} of {task}")
        path = self.prediction_path(task, model_id)
        with atomic_h5(path) as f:
            f.attrs.update({"task": task, "model_id": model_id, "task_hash": task_hash,
                            "fingerprint": fingerprint_json(fingerprint)})
            f.create_dataset("sims", data=np.asarray(sims, np.float32), compression="gzip")
            f["labels"] = np.asarray(labels, np.int32)
            f.create_dataset("unreadable", data=np.array(list(unreadable), dtype=object), dtype=STR)

    def has_predictions(self, task: str, model_id: str, task_hash: str | None,
                        fingerprint: dict | None = None) -> bool:
        """Whether :meth:`load_predictions` would find them, from the file's attributes alone."""
        path = self.prediction_path(task, model_id)
        if not path.exists():
            return False
        with open_checked(path, "prediction cache") as f:
            return self._current(f, task_hash, fingerprint)

    @staticmethod
    def _current(f: h5py.File, task_hash: str | None, fingerprint: dict | None) -> bool:
        if task_hash is not None and f.attrs["task_hash"] != task_hash:
            return False
        return task_hash is None or same_make(f.attrs.get("fingerprint"), fingerprint) is not False

    def load_predictions(self, task: str, model_id: str, task_hash: str | None,
                         fingerprint: dict | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """Cached predictions, or None when missing, computed on another task version or made
        otherwise (another ``fingerprint``; a file without one is accepted).

        ``task_hash=None`` takes whatever is stored: for a task whose data is
        not on this machine, whose version therefore cannot be checked.
        """
        path = self.prediction_path(task, model_id)
        if not path.exists():
            return None
        with open_checked(path, "prediction cache") as f:
            if not self._current(f, task_hash, fingerprint):
                return None
            return f["sims"][:], f["labels"][:]

    def prediction_record(self, task: str, model_id: str) -> dict:
        """What a result records of a stored prediction: its fingerprint and unreadable images."""
        path = self.prediction_path(task, model_id)
        if not path.exists():
            return {}
        with open_checked(path, "prediction cache") as f:
            made = f.attrs.get("fingerprint") or ""
            return {"fingerprint": json.loads(made) if made else None,
                    "unreadable": [u.decode() if isinstance(u, bytes) else u
                                   for u in (f["unreadable"][:] if "unreadable" in f else [])]}


def save_graph(store: Store, graph) -> None:
    """Persist a :class:`mllbench.semantic.graph.SemanticGraph` atomically.

    The image references are also stored packed (``image_refs_packed``: UTF-8, each followed by a NUL):
    the paper's graph has ~340k of them, which HDF5's variable-length strings take ~0.2 s and ~20 MB of
    reads to load, on every selection; packed, ~0.04 s and 7 MB. ``image_refs`` stays for older readers."""
    with Store.locked(store.root), atomic_h5(store.graph_path) as f:
        f.attrs.update({"hash": graph.hash, "node_hash": graph.node_hash,
                        "image_hash": graph.image_hash, "settings": graph.settings,
                        "sources": graph.sources})
        for name in ("wnids", "names", "captions", "image_refs"):
            f.create_dataset(name, data=np.array(getattr(graph, name), dtype=object), dtype=STR)
        f["image_refs_packed"] = np.frombuffer("".join(r + "\0" for r in graph.image_refs).encode("utf-8"),
                                               np.uint8)
        for name in ("edges", "node_ptr", "node_images"):
            f[name] = getattr(graph, name)


def _strings(f: h5py.File, name: str) -> tuple[str, ...]:
    """A string dataset of the graph file as str. The image references are read packed where the file
    has them (``save_graph``)."""
    if name == "image_refs" and "image_refs_packed" in f:
        return tuple(f["image_refs_packed"][:].tobytes().decode("utf-8").split("\0")[:-1])
    return tuple(s.decode() if isinstance(s, bytes) else s for s in f[name][:])


def load_graph(store: Store):
    """The stored graph, or None if no graph was built yet."""
    from mllbench.semantic.graph import SemanticGraph

    if not store.graph_path.exists():
        return None
    with open_checked(store.graph_path, "semantic graph", random_access=True) as f:
        strings = {n: _strings(f, n) for n in ("wnids", "names", "captions", "image_refs")}
        graph = SemanticGraph(edges=f["edges"][:], node_ptr=f["node_ptr"][:],
                              node_images=f["node_images"][:], settings=f.attrs["settings"],
                              sources=f.attrs.get("sources", ""), **strings)
        if graph.hash != f.attrs["hash"]:
            raise MllbenchError(f"semantic graph {store.graph_path} is corrupt (hash mismatch); delete it")
    return graph
