"""Model labeling (Eqs. 2-4): run each model once over the graph, store the label.

A label stores what makes any s^v_{m,x} computable without the model: the
model's embedding of every graph image and of every node caption (float16).
That is O((images + nodes) x d), not the dense images x nodes matrix: at the
paper's scale (9,055 nodes x <=75 images, d = 512-1024) about 0.7-1.4 GB
per model instead of ~12 GB. It also stores each (image, node)
pair's rivals (``rival_blocks``: a block per node of its pairs' counts and tiles of
ranks, ``rival_block_at``, ``rival_ranks``: see ``mllbench.maths.mll.pair_rivals`` and
``rival_blocks``), from which a selection reads Eq. 5's argmax for its own nodes' pairs
alone, one contiguous run per node, instead of the images' embeddings that inner nodes
scatter over the label; and each image's ``TOP_NODES`` most similar nodes (``top_nodes``,
for selectors that read them). Both are recomputed whenever the label is assembled, as
they depend on every node; a label made before them is converted by ``mllbench label``
from its own rows, no model loaded.

Labels grow: rows are keyed by image reference and caption hash, so after
the graph gains nodes or images only the new rows are computed. A run writes
to ``<model>.partial.h5`` after every batch (in any order: a Ray cluster's
shards land as they finish, see ``mllbench/executors.py``) and resumes from
it; the finished label replaces ``<model>.h5`` atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import json
import warnings

import h5py
import numpy as np

from mllbench.semantic.graph import SemanticGraph
from mllbench.maths.mll import TOP_NODES, pair_rivals, rank_tiles, rival_blocks, rivals_listed
# the reading side; GraphLabels, read_rows, read_ranges importable from here as before
from mllbench.pipeline.label_view import (RIVAL_LAYOUT, SIM_BLOCK_BYTES, GraphLabels,  # noqa: F401
                                         read_ranges, read_rows)
from mllbench.registry.store import (CANONICAL_BATCHING, STR, Store, atomic_h5, canonical_compute, check_finite,
                                     fingerprint_json, open_checked, same_make, text_key)
from mllbench.core.types import MllbenchError, VisionLanguageModel
from mllbench.pipeline.evaluate import read_images

Progress = Callable[[int, int], None]  # (done, total)
PARTIAL_LAYOUT = 3  # per-image done mask, captions of CANONICAL_BATCHING; older scratch files restart


class MadeOtherwise(UserWarning):
    """A partial file made with another fingerprint is restarted (the CLI prints it on one line)."""


def _old_label(path: Path, model_id: str, fingerprint: dict | None = None) -> tuple[dict, dict, h5py.File | None]:
    """The finished label's rows to reuse: none when its model was set up otherwise (another fingerprint)."""
    if not path.exists():
        return {}, {}, None
    f = open_checked(path, f"label of {model_id}")
    if same_make(f.attrs.get("fingerprint"), fingerprint) is False:
        f.close()
        return {}, {}, None
    images = {r.decode() if isinstance(r, bytes) else r: i for i, r in enumerate(f["image_refs"][:])}
    captions = {k: i for i, k in enumerate(f["caption_keys"][:])}
    if f.attrs.get("batching") != CANONICAL_BATCHING:  # caption vectors of another batching: recompute
        captions = {}
    return images, captions, f


def label_is_current(store: Store, graph: SemanticGraph, model_id: str, fingerprint: dict | None = None) -> bool:
    """Whether the model's stored label was made on ``graph``, canonically, with current top nodes,
    by the model as ``fingerprint`` describes it (a label made before fingerprints is accepted)."""
    return label_status(store, graph, model_id, fingerprint)[0]


def label_status(store: Store, graph: SemanticGraph, model_id: str,
                 fingerprint: dict | None = None) -> tuple[bool, bool]:
    """(:func:`label_is_current`, whether the label records a fingerprint), from one opening of the file:
    a selection checks every label of the hub, and an opening is most of the check (~1 ms)."""
    path = store.label_path(model_id)
    if not path.exists():
        return False, False
    with open_checked(path, f"label of {model_id}", random_access=True) as f:
        # a label without top nodes (made before they were stored), or with another number of them,
        # is re-assembled from its own rows
        current = (f.attrs.get("graph_hash") == graph.hash and f.attrs.get("batching") == CANONICAL_BATCHING
                   and f.get("top_nodes", np.zeros((0, 0))).shape[1] == min(TOP_NODES, len(graph.wnids))
                   and f.attrs.get("rival_layout") == RIVAL_LAYOUT  # made before pair rivals: re-assembled too
                   and same_make(f.attrs.get("fingerprint"), fingerprint) is not False)
        return current, bool(f.attrs.get("fingerprint"))


def adopt_label(store: Store, model_id: str, fingerprint: dict) -> bool:
    """Record ``fingerprint`` in a label made before fingerprints (accepted as made by the model as
    it is set up now: docs/registry.md), so that a later change of weights or precision relabels.
    Returns whether it recorded. The caller holds no lock on the labels folder (this takes it)."""
    path = store.label_path(model_id)
    with open_checked(path, f"label of {model_id}") as f:
        if f.attrs.get("fingerprint"):  # the usual case: no lock, nothing written
            return False
    with Store.locked(path.parent), h5py.File(path, "a") as f:
        if f.attrs.get("fingerprint"):
            return False
        f.attrs["fingerprint"] = fingerprint_json(fingerprint)
    return True


def _open_partial(path: Path, graph: SemanticGraph, model_id: str, total: int,
                  fingerprint: dict | None = None) -> h5py.File:
    """The resumable scratch file, restarted if stale, of an older layout, unreadable, or made
    otherwise (any fingerprint difference, device and versions included: no file mixes rows)."""
    if path.exists():
        try:
            f = h5py.File(path, "a")
            if (f.attrs.get("graph_hash") == graph.hash and f.attrs.get("model_id") == model_id
                    and f.attrs.get("layout") == PARTIAL_LAYOUT and len(f["done"]) == total):
                if f.attrs.get("fingerprint", "") == fingerprint_json(fingerprint):
                    return f
                warnings.warn(f"the partial label of {model_id} was made with {f.attrs.get('fingerprint') or '?'}, "
                              f"not {fingerprint_json(fingerprint)}: restarting it", MadeOtherwise, stacklevel=2)
            f.close()
        except (OSError, KeyError):  # killed mid-write: start this model over
            pass
        path.unlink()
    f = h5py.File(path, "w")
    f.attrs.update({"graph_hash": graph.hash, "model_id": model_id, "n_done": 0, "layout": PARTIAL_LAYOUT,
                    "fingerprint": fingerprint_json(fingerprint)})
    f.create_dataset("done", shape=(total,), dtype=bool)
    return f


class LabelWriter:
    """The one writer of a model's label: resumes ``<model>.partial.h5``, commits batches of
    images in any order (a per-image done mask, so a cluster's shards can land out of
    order), then assembles the label. Whoever computes the embeddings never opens the
    registry. The caller holds the labels directory's lock.
    """

    def __init__(self, store: Store, graph: SemanticGraph, model_id: str, batch_size: int = 64,
                 fingerprint: dict | None = None):
        self.store, self.graph, self.model_id, self.batch_size = store, graph, model_id, batch_size
        self.fingerprint = fingerprint
        self.final = store.label_path(model_id)
        self.old_images, self.old_captions, self.old = _old_label(self.final, model_id, fingerprint)
        self.caption_keys = [text_key(c) for c in graph.captions]
        self.need_images = [i for i, r in enumerate(graph.image_refs) if r not in self.old_images]
        self.need_captions = [j for j, k in enumerate(self.caption_keys) if k not in self.old_captions]
        self.total = len(self.need_images)
        self.part = _open_partial(store.label_path(model_id, partial=True), graph, model_id, self.total, fingerprint)
        self._done = self.part["done"][:]

    def __enter__(self) -> "LabelWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def n_done(self) -> int:
        return int(self.part.attrs["n_done"])

    def caption_texts(self) -> list[str]:
        """Node captions still to encode (none once committed)."""
        return [] if "caption_emb" in self.part else [self.graph.captions[j] for j in self.need_captions]

    def commit_captions(self, emb: np.ndarray) -> None:
        texts = self.caption_texts()
        check_finite(emb, self.model_id, lambda row: f"node caption {texts[row]!r}")
        self.part.create_dataset("caption_emb", data=emb.astype(np.float16))
        self.part.flush()

    def pending(self) -> list[int]:
        """Starts of the batches (fixed boundaries: multiples of batch_size) with images to encode."""
        return [s for s in range(0, self.total, self.batch_size) if not self._done[s:s + self.batch_size].all()]

    def refs(self, start: int) -> list[str]:
        return [self.graph.image_refs[i] for i in self.need_images[start:start + self.batch_size]]

    def commit(self, start: int, emb: np.ndarray, unreadable: dict[int, str] | None = None) -> None:
        """Write one batch's image embeddings and mark its images done (flushed). ``unreadable``:
        {position in the batch: error} of images that did not decode; ``emb`` has rows for the
        others only, theirs stay zero and are listed (``unreadable`` attribute), done, never retried."""
        if unreadable:
            emb = self._with_unreadable(start, emb, unreadable)
        stop = start + len(emb)
        check_finite(emb, self.model_id, lambda row: f"image {self.refs(start)[row]}")
        if "image_emb" not in self.part:
            self.part.create_dataset("image_emb", shape=(self.total, emb.shape[1]), dtype=np.float16)
        self.part["image_emb"][start:stop] = emb.astype(np.float16)
        self._done[start:stop] = True
        self.part["done"][start:stop] = True
        self.part.attrs["n_done"] = int(self._done.sum())
        self.part.flush()

    def _with_unreadable(self, start: int, emb: np.ndarray, unreadable: dict[int, str]) -> np.ndarray:
        """The batch's rows with zeros for its unreadable images, which the partial file lists."""
        refs = self.refs(start)
        known = self.part.get("image_emb", self.part.get("caption_emb"))
        width = emb.shape[1] if emb.size else known.shape[1] if known is not None else 1
        full = np.zeros((len(refs), width), np.float32)
        full[[j for j in range(len(refs)) if j not in unreadable]] = emb.reshape(-1, width)
        listed = json.loads(self.part.attrs.get("unreadable", "{}"))
        self.part.attrs["unreadable"] = json.dumps({**listed, **{refs[j]: e for j, e in unreadable.items()}})
        return full

    def finish(self, progress: Progress | None = None) -> str:
        """Assemble the label atomically and drop the scratch file; "labeled" or "updated".
        ``progress``: (images ranked, images) while the pairs' rivals are computed."""
        if self.pending() or self.caption_texts():
            raise MllbenchError(f"label of {self.model_id!r} is incomplete; rerun `mllbench label`")
        _assemble(self.final, self.graph, self.model_id, self.caption_keys, self.need_images,
                  self.need_captions, self.old_images, self.old_captions, self.old, self.part, progress)
        status = "updated" if self.old is not None else "labeled"
        self.close()
        self.store.label_path(self.model_id, partial=True).unlink()
        return status

    def close(self) -> None:
        for f in (self.part, self.old):
            if f is not None and f.id.valid:
                f.close()


def label_model(store: Store, graph: SemanticGraph, model_id: str,
                load_model: Callable[[], VisionLanguageModel],
                open_image: Callable[[str], Any], batch_size: int = 64,
                progress: Progress | None = None, fingerprint: dict | None = None) -> str:
    """Label one model on ``graph`` in this process; returns "cached", "labeled" or "updated".
    ``fingerprint``: how the model computes (``Models.run_fingerprint``), recorded and checked."""
    with Store.locked(store.label_path(model_id).parent):
        if label_is_current(store, graph, model_id, fingerprint):
            return "cached"
        with LabelWriter(store, graph, model_id, batch_size, fingerprint) as writer:
            model: VisionLanguageModel | None = None
            texts = writer.caption_texts()
            if texts:
                model = load_model()
                writer.commit_captions(canonical_compute(model.encode_texts, texts))
            if progress:
                progress(writer.n_done, writer.total)
            if writer.pending():
                encode_pending(writer, model or load_model(), open_image, progress)
            return writer.finish(progress)  # an older label's conversion: a bar over its images


def encode_pending(writer: LabelWriter, model: VisionLanguageModel, open_image: Callable[[str], Any],
                   progress: Progress | None = None) -> None:
    """The writer's pending batches through ``model.encode_images``, one call per batch, as cluster
    workers make (the path of a model that shares no preprocessing: ``passes.py``)."""
    for start in writer.pending():
        images, bad = read_images(open_image, writer.refs(start))
        writer.commit(start, model.encode_images(images) if images else np.zeros((0, 0)), bad)
        if progress:
            progress(writer.n_done, writer.total)


def _assemble(final: Path, graph: SemanticGraph, model_id: str, caption_keys: list[bytes],
              need_images: list[int], need_captions: list[int], old_images: dict,
              old_captions: dict, old: h5py.File | None, part: h5py.File,
              progress: Progress | None = None) -> None:
    """Merge reused rows of the old label with the new ones, in graph order, rank each image's top nodes,
    and list each (image, node) pair's rivals (node-major: a node's pairs are one run on disk)."""
    def merged(n: int, need: list[int], new, reuse_rows: list[int | None], old_data) -> np.ndarray:
        dim = new.shape[1] if new is not None else old_data.shape[1]
        out = np.zeros((n, dim), dtype=np.float16)
        if need:
            out[need] = new[:]
        keep = [i for i, r in enumerate(reuse_rows) if r is not None]
        if keep:
            rows = np.array([reuse_rows[i] for i in keep])
            order = np.argsort(rows)  # h5py reads need increasing indices
            out[np.array(keep)[order]] = old_data[rows[order]]
        return out

    images = merged(len(graph.image_refs), need_images, part.get("image_emb"),
                    [old_images.get(r) for r in graph.image_refs], old and old["image_emb"])
    captions = merged(len(graph.captions), need_captions, part.get("caption_emb"),
                      [old_captions.get(k) for k in caption_keys], old and old["caption_emb"])
    with atomic_h5(final) as f:
        f.attrs.update({"model_id": model_id, "graph_hash": graph.hash, "batching": CANONICAL_BATCHING,
                        "node_hash": graph.node_hash, "image_hash": graph.image_hash,
                        "fingerprint": part.attrs.get("fingerprint", ""),  # the partial's: how it was made
                        "unreadable": json.dumps(unreadable_refs(graph, old, part))})
        f.create_dataset("image_refs", data=np.array(graph.image_refs, dtype=object), dtype=STR)
        f["caption_keys"] = np.array(caption_keys, dtype="S40")
        f["image_emb"] = images  # contiguous: a selection's scattered rows are located by one offset
        f["caption_emb"] = captions
        counts, rivals, node_ranks, top, ties = pair_rivals(images, captions, graph.node_ptr, graph.node_images,
                                                            max_bytes=SIM_BLOCK_BYTES, progress=progress,
                                                            top=TOP_NODES)
        f["top_nodes"] = top
        f.attrs["rival_layout"], f.attrs["rival_tiles"] = RIVAL_LAYOUT, rank_tiles(rivals_listed(len(captions)))
        f["rival_blocks"], f["rival_block_at"] = rival_blocks(counts, rivals, node_ranks, graph.n_images, ties)
        f["rival_ranks"] = node_ranks


def unreadable_refs(graph: SemanticGraph, old: h5py.File | None, part: h5py.File) -> dict[str, str]:
    """The graph's images that did not decode (zero rows, left out), this run's and the reused label's."""
    listed = {**json.loads(old.attrs.get("unreadable", "{}") if old is not None else "{}"),
              **json.loads(part.attrs.get("unreadable", "{}"))}
    refs = set(graph.image_refs)
    return {r: e for r, e in listed.items() if r in refs}
