"""Model labeling (Eqs. 2-4): run each model once over the graph, store the label.

A label stores what makes any s^v_{m,x} computable without the model: the
model's embedding of every graph image and of every node caption (float16).
That is O((images + nodes) x d), not the dense images x nodes matrix: at the
paper's scale (9,055 nodes x <=75 images, d = 512-1024) about 0.7-1.4 GB
per model instead of ~12 GB. It also stores, node after node, each (image, node)
pair's rivals (``pair_counts``, ``pair_rivals``, ``rival_ptr``: see
``mllbench.maths.mll.pair_rivals``), from which a selection reads Eq. 5's argmax for
its own nodes' pairs alone, one contiguous run per node, instead of the images'
embeddings that inner nodes scatter over the label; and each image's ``TOP_NODES``
most similar nodes (``top_nodes``, for selectors that read them). Both are
recomputed whenever the label is assembled, as they depend on every node; a label
made before them is converted by ``mllbench label`` from its own rows, no model loaded.

Labels grow: rows are keyed by image reference and caption hash, so after
the graph gains nodes or images only the new rows are computed. A run writes
to ``<model>.partial.h5`` after every batch (in any order: a Ray cluster's
shards land as they finish, see ``mllbench/executors.py``) and resumes from
it; the finished label replaces ``<model>.h5`` atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import json
import warnings

import h5py
import numpy as np

from mllbench.semantic.graph import SemanticGraph
from mllbench.maths.mll import TOP_NODES, concat_ranges, cosine, pair_rivals, rival_hits
from mllbench.pipeline.rowio import RowFile
from mllbench.registry.store import (CANONICAL_BATCHING, STR, Store, atomic_h5, canonical_compute, check_finite,
                                     fingerprint_json, open_checked, same_make, text_key)
from mllbench.core.types import MllbenchError, VisionLanguageModel
from mllbench.pipeline.evaluate import read_images

Progress = Callable[[int, int], None]  # (done, total)
PARTIAL_LAYOUT = 3  # per-image done mask, captions of CANONICAL_BATCHING; older scratch files restart
SIM_BLOCK_BYTES = 64 * 2**20  # a selection's similarity block (GraphLabels.similarity_blocks)
RIVAL_LAYOUT = 1  # pair_counts / pair_rivals / rival_ptr as mllbench.maths.mll.pair_rivals makes them


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
    path = store.label_path(model_id)
    if not path.exists():
        return False
    with open_checked(path, f"label of {model_id}") as f:
        # a label without top nodes (made before they were stored), or with another number of them,
        # is re-assembled from its own rows
        return (f.attrs.get("graph_hash") == graph.hash and f.attrs.get("batching") == CANONICAL_BATCHING
                and f.get("top_nodes", np.zeros((0, 0))).shape[1] == min(TOP_NODES, len(graph.wnids))
                and f.attrs.get("rival_layout") == RIVAL_LAYOUT  # made before pair rivals: re-assembled too
                and same_make(f.attrs.get("fingerprint"), fingerprint) is not False)


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
            for start in writer.pending():
                model = model or load_model()  # one encode_images call per batch, as cluster workers make
                images, bad = read_images(open_image, writer.refs(start))
                writer.commit(start, model.encode_images(images) if images else np.zeros((0, 0)), bad)
                if progress:
                    progress(writer.n_done, writer.total)
            return writer.finish(progress)  # an older label's conversion: a bar over its images


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
        f.create_dataset("image_emb", data=images, chunks=(min(len(images), 256), images.shape[1]))
        f["caption_emb"] = captions
        counts, rivals, rival_ptr, top = pair_rivals(images, captions, graph.node_ptr, graph.node_images,
                                                     max_bytes=SIM_BLOCK_BYTES, progress=progress, top=TOP_NODES)
        f["top_nodes"] = top
        f.attrs["rival_layout"] = RIVAL_LAYOUT
        f["pair_counts"], f["pair_rivals"], f["rival_ptr"] = counts, rivals, rival_ptr


def unreadable_refs(graph: SemanticGraph, old: h5py.File | None, part: h5py.File) -> dict[str, str]:
    """The graph's images that did not decode (zero rows, left out), this run's and the reused label's."""
    listed = {**json.loads(old.attrs.get("unreadable", "{}") if old is not None else "{}"),
              **json.loads(part.attrs.get("unreadable", "{}"))}
    refs = set(graph.image_refs)
    return {r: e for r, e in listed.items() if r in refs}


def read_ranges(data: h5py.Dataset, starts: np.ndarray, lengths: np.ndarray, gap: int) -> np.ndarray:
    """``data[s:s + n]`` for each (s, n) with increasing ``starts``, concatenated: ranges less than
    ``gap`` rows apart are read as one slice (a selection's nodes are often neighbours)."""
    starts, lengths = np.asarray(starts, np.int64), np.asarray(lengths, np.int64)
    stops = starts + lengths
    parts = [np.zeros((0,) + data.shape[1:], data.dtype)]
    for run in np.split(np.arange(len(starts)), np.flatnonzero(starts[1:] - stops[:-1] > gap) + 1):
        if len(run):
            first = int(starts[run[0]])
            block = data[first:int(stops[run[-1]])]
            parts.append(block if (starts[run[1:]] == stops[run[:-1]]).all()
                         else block[concat_ranges(starts[run] - first, lengths[run])])
    return np.concatenate(parts)


def read_rows(data: np.ndarray | h5py.Dataset, rows: np.ndarray, gap: int = 256, span: int = 4096) -> np.ndarray:
    """``data[rows]`` for sorted unique ``rows``, from an HDF5 dataset in runs of nearby rows.

    h5py's fancy indexing selects point by point (20,000 of 100,000 rows of d = 768:
    3.4 s, against 0.6 s in runs); a run is one contiguous read, and rows fewer than
    ``gap`` apart (a label's chunk is 256 rows) share one, as HDF5 reads whole chunks anyway.
    No run crosses a multiple of ``span`` rows, so a dense selection is not read as one
    slice of the whole label (3.5 GB at 50,000 nodes) before its rows are picked.
    """
    if isinstance(data, np.ndarray) or len(rows) == 0:
        return np.asarray(data[rows])
    breaks = np.flatnonzero((np.diff(rows) > gap) | (np.diff(rows // span) != 0)) + 1
    out = np.empty((len(rows),) + data.shape[1:], data.dtype)
    for run in np.split(np.arange(len(rows)), breaks):
        first, last = int(rows[run[0]]), int(rows[run[-1]])
        out[run] = data[first:last + 1][rows[run] - first]
    return out


class GraphLabels:
    """The selectors' read access to G and the stored labels (a LabelView)."""

    def __init__(self, store: Store, graph: SemanticGraph, embed: Callable[[Sequence[str]], np.ndarray]):
        self.store, self.graph, self._embed = store, graph, embed
        self.wnids, self.names, self.captions = graph.wnids, graph.names, graph.captions
        self.n_images = graph.n_images
        self._graph_hash = graph.hash  # hashing the graph costs ~3 ms: once, not per file
        self._files: dict[str, h5py.File] = {}
        self._memory: dict[str, tuple] = {}
        self._rival_ptr: dict[str, np.ndarray] = {}
        self._row_files: dict[str, RowFile] = {}
        self.in_memory_bytes = 256 * 2**20

    def node_caption_embeddings(self) -> np.ndarray:
        return self._embed(list(self.graph.captions))

    def _label(self, model_id: str) -> h5py.File:
        if model_id not in self._files:  # opened once per run, not per task
            path = self.store.label_path(model_id)
            if not path.exists():
                raise MllbenchError(f"no label for model {model_id!r}; run `mllbench label`")
            # no chunk cache: selection reads scattered rows once each, and a cached chunk
            # (256 rows) would be read whole for each (measured: 2.4x the bytes, 1.5x the time)
            f = open_checked(path, f"label of {model_id}", rdcc_nbytes=0)
            if f.attrs.get("graph_hash") != self._graph_hash:
                f.close()
                raise MllbenchError(f"the label of {model_id!r} was computed on another semantic graph; "
                                    "run `mllbench label` to update it")
            self._files[model_id] = f
        return self._files[model_id]

    def similarities(self, model_id: str, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """s^v_{m,x} for the images of ``nodes`` against ``nodes``' captions.

        Returns (sim, image_node): sim is (n, len(nodes)); image_node[i] is the
        position in ``nodes`` of the node image i represents.
        """
        return next(self.similarity_blocks(model_id, nodes, max_bytes=None))

    def node_images(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(images, image_node): the label rows of ``nodes``' images, node after node, and the
        position in ``nodes`` of each one's node (an image of several nodes appears once per node)."""
        per_node = [self.graph.images_of(v) for v in nodes]
        sizes = np.array([len(p) for p in per_node], np.int64)
        images = np.concatenate(per_node) if per_node else np.zeros(0, np.int64)
        return images, np.repeat(np.arange(len(per_node)), sizes)

    def similarity_blocks(self, model_id: str, nodes: np.ndarray, max_bytes: int | None = SIM_BLOCK_BYTES,
                          pairs: tuple[np.ndarray, np.ndarray] | None = None,
                          ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """:meth:`similarities` in blocks of whole nodes, each sim at most ~``max_bytes`` (None: one block),
        for ``pairs`` (images, image_node) as :meth:`node_images` orders them (default: all of ``nodes``').

        Why: a task of 1,000 classes selects ~5,000 nodes of ~75 images each, whose dense
        sim would be ~375k x 5,000 float32 = 7.5 GB; blocks keep a selection's memory
        to the label rows it reads. A block's matmul may differ from the one-block matrix
        in the last bit (BLAS picks its kernel by shape, as it does by thread count); the
        embedded benchmark's tasks (<= 40 classes) fit in one block, so their scores are
        the dense matrix's, bit for bit. image_node indexes ``nodes`` as in :meth:`similarities`.
        """
        f = self._label(model_id)
        nodes = np.asarray(nodes)
        images, image_node = self.node_images(nodes) if pairs is None else pairs
        unique = np.unique(images)
        caption_emb, image_emb = self._arrays(model_id, f)
        order = np.argsort(nodes)
        caption = np.empty((len(nodes), caption_emb.shape[1]), np.float32)
        caption[order] = self._read(model_id, caption_emb, nodes[order])
        rows = self._read(model_id, image_emb, unique)  # float16, each selected image once
        limit = max(1, max_bytes // (4 * max(len(nodes), 1))) if max_bytes else None
        node_start = np.searchsorted(image_node, image_node)  # a block starts at a node's first pair
        block = node_start // limit if limit else np.zeros(len(images), np.int64)
        for part in np.split(np.arange(len(images)), np.flatnonzero(np.diff(block)) + 1):
            image = rows[np.searchsorted(unique, images[part])].astype(np.float32)
            yield cosine(image, caption), image_node[part]

    def top_nodes(self, model_id: str, images: np.ndarray) -> np.ndarray:
        """Rows ``images`` (any order, repeats allowed) of the label's ``top_nodes`` (see mllbench.maths.mll)."""
        f = self._label(model_id)
        if "top_nodes" not in f:
            raise MllbenchError(f"the label of {model_id!r} has no top nodes; run `mllbench label` to update it")
        unique, inverse = np.unique(images, return_inverse=True)
        return read_rows(f["top_nodes"], unique)[inverse]

    def decided_hits(self, model_id: str, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eq. 5 from the label's pair rivals: (decided, hit) per pair of :meth:`node_images` (``selected``),
        exactly the dense argmax's hit where decided (``mllbench.maths.mll.rival_hits``).

        Reads each selected node's pairs as one run (3 bytes a pair, 2 a rival), not its images'
        embeddings, which inner nodes scatter over the label. A label held in memory decides
        nothing: scoring it densely reads nothing, and keeps its one dense block bit for bit.
        """
        f = self._label(model_id)
        selected = np.asarray(selected, np.int64)
        sizes = self.n_images[selected]
        if self._small(f):
            return np.zeros(int(sizes.sum()), bool), np.zeros(int(sizes.sum()), bool)
        if f.attrs.get("rival_layout") != RIVAL_LAYOUT:
            raise MllbenchError(f"the label of {model_id!r} has no pair rivals; run `mllbench label` to update it")
        ptr = self.graph.node_ptr
        counts = read_ranges(f["pair_counts"], ptr[selected], sizes, 2**14)  # each node's pairs: one run
        if model_id not in self._rival_ptr:
            self._rival_ptr[model_id] = f["rival_ptr"][:]
        rival_ptr = self._rival_ptr[model_id]
        rivals = read_ranges(f["pair_rivals"], rival_ptr[selected], rival_ptr[selected + 1] - rival_ptr[selected],
                             2**16)
        in_selected = np.zeros(len(self.wnids), bool)
        in_selected[selected] = True
        return rival_hits(counts, rivals, in_selected)

    def _arrays(self, model_id: str, f: h5py.File) -> tuple:
        """The label's caption and image embeddings: in memory when they are small (HDF5 fancy
        indexing costs ~2 ms a call, most of a cached run on the embedded benchmark), else the
        HDF5 datasets themselves (the paper's labels are ~1 GB per model)."""
        if model_id not in self._memory:
            self._memory[model_id] = ((f["caption_emb"][:], f["image_emb"][:]) if self._small(f)
                                      else (f["caption_emb"], f["image_emb"]))
        return self._memory[model_id]

    def _small(self, f: h5py.File) -> bool:
        return f["caption_emb"].nbytes + f["image_emb"].nbytes <= self.in_memory_bytes

    def _read(self, model_id: str, data: np.ndarray | h5py.Dataset, rows: np.ndarray) -> np.ndarray:
        """:func:`read_rows`; from a label on disk straight from its file (mllbench.pipeline.rowio)."""
        if isinstance(data, h5py.Dataset):
            if model_id not in self._row_files:
                self._row_files[model_id] = RowFile(data.file.filename)
            out = self._row_files[model_id].rows(data, rows)
            if out is not None:
                return out
        return read_rows(data, rows)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        for rows in self._row_files.values():
            rows.close()
        self._row_files.clear()
        self._memory.clear()
        self._rival_ptr.clear()
