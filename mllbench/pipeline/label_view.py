"""Reading labels (the selectors' ``LabelView``): the graph, node caption embeddings, label rows
read in runs (``read_rows``, ``read_ranges``), Eq. 5's similarities in bounded blocks and its
argmax from the stored pair rivals. The writing side (labeling a model, assembling, converting)
is ``labeling``; this module is what a selection needs and nothing that runs a model."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import json
import threading

import h5py
import numpy as np

from mllbench.core.types import MllbenchError
from mllbench.maths.mll import (block_counts, block_head, canonical_cosines, concat_ranges, cosine, index_dtype,
                                near_margin, rival_depth, tie_counts, tie_winners, tile_hits)
from mllbench.pipeline.directio import direct_reads
from mllbench.pipeline.rowio import RowFile
from mllbench.registry.store import Store, open_checked
from mllbench.semantic.graph import SemanticGraph

SIM_BLOCK_BYTES = 64 * 2**20  # a selection's similarity block (GraphLabels.similarity_blocks)
FIRST_RANKS = 24  # ranks of pair rivals read at least in a selection's first round (GraphLabels.decided_hits):
# a node's counts and 24 ranks of its 75 pairs are 3.8 kB, one page of its block (rival_blocks)
RIVAL_LAYOUT = 4  # rival_blocks / rival_block_at / rival_ranks as mllbench.maths.mll.rival_blocks makes them:
# 1 listed 16 rivals pair after pair; 2 (never released) rank-major; 3 up to 255, node after node in tiles of
# ranks (tile_layout), counts apart; 4 the same tiles in one block a node with its counts, a long block on a page


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
        self._rival_tiles: dict[str, tuple] = {}
        self._rival_datasets: dict[str, h5py.Dataset] = {}
        self._unreadable: dict[str, np.ndarray] = {}
        self._row_files: dict[str, RowFile] = {}
        self._direct = direct_reads()  # the process's pool of reads around the page cache (directio)
        self._opening = threading.RLock()  # labels are read by several threads (MLL's readers, prefetch)
        self._facts: dict[tuple[str, str], bool] = {}
        self._eligible = int((self.n_images > 0).sum())
        self.in_memory_bytes = 256 * 2**20

    def node_caption_embeddings(self) -> np.ndarray:
        return self._embed(list(self.graph.captions))

    def _label(self, model_id: str) -> h5py.File:
        with self._opening:
            if model_id not in self._files:  # opened once per run, not per task
                path = self.store.label_path(model_id)
                if not path.exists():
                    raise MllbenchError(f"no label for model {model_id!r}; run `mllbench label`")
                # no chunk cache: selection reads scattered rows once each, and a cached chunk
                # (256 rows) would be read whole for each (measured: 2.4x the bytes, 1.5x the time)
                f = open_checked(path, f"label of {model_id}", random_access=True, rdcc_nbytes=0)
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
        in the last bit (BLAS picks its kernel by shape, as it does by thread count); Eq. 5
        settles what that could change, cosines within the margin, the same way in every block
        (:meth:`dense_hits`). image_node indexes ``nodes`` as in :meth:`similarities`.
        """
        for image, caption, image_node in self._blocks(model_id, nodes, max_bytes, pairs):
            yield cosine(image, caption), image_node

    def dense_hits(self, model_id: str, nodes: np.ndarray, pairs: tuple[np.ndarray, np.ndarray],
                   max_bytes: int | None = SIM_BLOCK_BYTES) -> np.ndarray:
        """Eq. 5 scored densely: whether each of ``pairs`` (as :meth:`node_images` orders them) has its node
        as its image's argmax over ``nodes``. Where other nodes' cosines are within ``near_margin`` of the
        largest, rounding could crown any of them: those near-ties are settled by ``tie_winners`` among
        them, as the pair rivals settle theirs (:meth:`decided_hits`), so both paths agree bit for bit."""
        hits = []
        for image, caption, image_node in self._blocks(model_id, nodes, max_bytes, pairs):
            sim = cosine(image, caption)
            best = np.argmax(sim, axis=1) if sim.shape[1] else np.zeros(len(sim), np.int64)
            close = sim >= (sim.max(1, keepdims=True) if sim.shape[1] else 0) - near_margin(image.shape[1])
            tied = np.flatnonzero(close.sum(1) > 1)
            if len(tied):
                width = int(close[tied].sum(1).max())
                order = np.argsort(~close[tied], axis=1, kind="stable")[:, :width]  # the near ones, by position
                candidates = np.where(np.take_along_axis(close[tied], order, 1), order, -1)
                held = candidates >= 0
                values = np.zeros(candidates.shape, np.float32)
                values[held] = canonical_cosines(np.repeat(image[tied], held.sum(1), axis=0),
                                                 caption[candidates[held]])
                best[tied] = tie_winners(values, candidates)
            hits.append(best == image_node)
        return np.concatenate(hits) if hits else np.zeros(0, bool)

    def _blocks(self, model_id: str, nodes: np.ndarray, max_bytes: int | None,
                pairs: tuple[np.ndarray, np.ndarray] | None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(image rows, caption rows of ``nodes``, image_node) of :meth:`similarity_blocks`' blocks, float32."""
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
            yield rows[np.searchsorted(unique, images[part])].astype(np.float32), caption, image_node[part]

    def readable(self, model_id: str, images: np.ndarray) -> np.ndarray:
        """Whether each of ``images`` (graph image indices) decoded when the model was labelled: an
        unreadable image's row is zeros (the label's ``unreadable`` attribute lists it), and Eq. 5
        leaves it out of its nodes' X_v, numerator and denominator alike."""
        if model_id not in self._unreadable:
            listed = json.loads(self._label(model_id).attrs.get("unreadable", "{}") or "{}")
            refs = set(listed)
            self._unreadable[model_id] = np.array([i for i, r in enumerate(self.graph.image_refs) if r in refs]
                                                  if refs else [], np.int64)
        return ~np.isin(images, self._unreadable[model_id])

    def top_nodes(self, model_id: str, images: np.ndarray) -> np.ndarray:
        """Rows ``images`` (any order, repeats allowed) of the label's ``top_nodes`` (see mllbench.maths.mll)."""
        f = self._label(model_id)
        if "top_nodes" not in f:
            raise MllbenchError(f"the label of {model_id!r} has no top nodes; run `mllbench label` to update it")
        unique, inverse = np.unique(images, return_inverse=True)
        return read_rows(f["top_nodes"], unique)[inverse]

    def decided_hits(self, model_id: str, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eq. 5 from the label's pair rivals: (decided, hit) per pair of :meth:`node_images` (``selected``),
        exactly the dense argmax's hit where decided (``mllbench.maths.mll.rival_hits``), near-ties
        settled among their candidates as :meth:`dense_hits` settles them.

        Reads the start of each selected node's block (``mllbench.maths.mll.rival_blocks``): its pairs'
        counts (3 bytes a pair) and the first tiles of their rivals' ranks (2 bytes a rival: the tiles up
        to ``rival_depth`` ranks, at least ``FIRST_RANKS``), in one run, a page for most nodes; then the
        next tile of the nodes with pairs still open, and so on. Not its images' embeddings, which inner
        nodes scatter over the label: only a near-tie's image row and its candidates' caption rows. A
        label held in memory decides nothing: scoring it densely reads nothing.
        """
        f = self._label(model_id)
        selected = np.asarray(selected, np.int64)
        sizes = self.n_images[selected]
        n_pairs = int(sizes.sum())
        if self._small(f):
            return np.zeros(n_pairs, bool), np.zeros(n_pairs, bool)
        if not self._current_rivals(f):
            raise MllbenchError(f"the label of {model_id!r} has no pair rivals of this version; "
                                "run `mllbench label` to update it")
        in_selected = np.zeros(len(self.wnids), bool)
        in_selected[selected] = True
        bounds, block_at, held, item, dtype = self._tiles(model_id, f)
        first_pair = np.cumsum(sizes) - sizes
        pair_node = np.repeat(np.arange(len(selected)), sizes)
        decided, hit, near = np.zeros(n_pairs, bool), np.zeros(n_pairs, bool), np.zeros(n_pairs, bool)
        found: list[tuple[np.ndarray, np.ndarray]] = []  # (pair, node): selected rivals of near-ties
        lo, hi = 0, self._first_tiles(bounds, len(selected))
        is_open = np.ones(n_pairs, bool)
        nodes, counts = np.arange(len(selected)), np.zeros((n_pairs, 3), np.uint8)
        while len(nodes):  # first each node's counts and first tiles, one run; then the next tile of open nodes
            node, size = selected[nodes], sizes[nodes]
            start, skip, tiles = self._round_reads(model_id, f, node, size, lo, hi)
            raw, at = self._runs(model_id, self._rival_data(model_id, f), start, skip + tiles)  # ``at``: in ``raw``
            if lo == 0:
                counts = block_counts(raw, at, size)
            pairs = concat_ranges(first_pair[nodes], size)  # the read nodes' pairs, some decided already
            done, hits, deeper, tied, (pair, rival, rank) = tile_hits(
                raw.view(dtype), (at + skip) // item, size, held[node], bounds, lo, hi, counts[pairs], in_selected,
                near[pairs], is_open[pairs])
            take = is_open[pairs]
            decided[pairs[take]], hit[pairs[take]], near[pairs[take]] = done[take], hits[take], tied[take]
            found.append((pairs[pair], rival, rank))
            is_open[pairs] = deeper
            nodes, lo, hi = np.unique(pair_node[pairs[deeper]]), hi, hi + 1
        tied = np.flatnonzero(near & ~decided & (counts[:, 2] == 0))  # every selected rival listed: settle them
        if len(tied):
            own = selected[pair_node[tied]]
            hit[tied] = self._tie_winners(model_id, f, selected, sizes, counts, pair_node, tied, found) == own
            decided[tied] = True
        return decided, hit

    def prefetch(self, model_id: str, selected: np.ndarray) -> None:
        """Ask the disk for the first read :meth:`decided_hits` will make of ``selected`` (a hint: nothing is
        read here). MLL asks for the next labels' while its readers score the current ones, so the disk,
        not the readers, waits: a 1,000-class selection's first reads are ~2,100 pages a label. Where the
        label is read around the page cache (``RowFile.direct``), or ``selected`` is empty, its file is only
        opened (MLL opens every label so while it matches classes to nodes): asking would read those pages
        twice."""
        f = self._label(model_id)
        if self._small(f) or not self._current_rivals(f):
            return
        data = self._rival_data(model_id, f)
        if self._row_file(model_id, data).direct or not len(selected):
            return
        selected = np.asarray(selected, np.int64)
        bounds = self._tiles(model_id, f)[0]
        start, skip, tiles = self._round_reads(model_id, f, selected, self.n_images[selected], 0,
                                               self._first_tiles(bounds, len(selected)))
        self._row_file(model_id, data).advise(data, start, skip + tiles)

    def _round_reads(self, model_id: str, f: h5py.File, node: np.ndarray, size: np.ndarray, lo: int,
                     hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(where each read starts in ``rival_blocks``, bytes of counts, bytes of tiles) of the round reading
        tiles [lo, hi) of ``node``s' blocks (``size`` pairs each): the first round reads each block's
        counts and first tiles in one run, a later one the next tiles only."""
        bounds, block_at, held, item, _ = self._tiles(model_id, f)
        head = block_head(size, item)
        tiles = np.clip(np.minimum(held[node], bounds[hi]) - bounds[lo], 0, None) * size * item
        if lo == 0:
            return block_at[node], head, tiles
        return block_at[node] + head + size * bounds[lo] * item, np.zeros_like(head), tiles

    def _first_tiles(self, bounds: np.ndarray, n_selected: int) -> int:
        """The tiles a selection of ``n_selected`` nodes reads first: up to ``rival_depth`` ranks, at least
        ``FIRST_RANKS``."""
        depth = max(rival_depth(n_selected, self._eligible), FIRST_RANKS)
        return int(np.clip(np.searchsorted(bounds, depth), 1, len(bounds) - 1))

    def _tie_winners(self, model_id: str, f: h5py.File, selected: np.ndarray, sizes: np.ndarray, counts: np.ndarray,
                     pair_node: np.ndarray, tied: np.ndarray, found: list[tuple[np.ndarray, ...]]) -> np.ndarray:
        """``tie_winners`` of the near-tie pairs ``tied``: each one's node and its selected near rivals
        (``found``: (pair, node, rank)), on the tie values its node's block stores for it (``tie_counts``
        a pair, after the tiles: its node's, then its near rivals' in rank order)."""
        bounds, block_at, held, item, _ = self._tiles(model_id, f)
        first_pair = np.cumsum(sizes) - sizes
        at_node = pair_node[tied]
        nodes, where = np.unique(at_node, return_inverse=True)  # the tied pairs' nodes: their pairs' tie values
        pairs = concat_ranges(first_pair[nodes], sizes[nodes])
        per_pair = np.zeros(len(counts), np.int64)
        per_pair[pairs] = tie_counts(counts[pairs])
        before = np.cumsum(per_pair[pairs]) - per_pair[pairs]  # within the tied pairs' nodes' pairs, in order
        before = before[np.searchsorted(pairs, tied)] - before[np.searchsorted(pairs, first_pair[nodes])][where]
        node = selected[at_node]
        start = block_at[node] + block_head(sizes[at_node], item) + sizes[at_node] * held[node] * item
        values = self._ranges(model_id, self._rival_data(model_id, f), start + 4 * before,
                              4 * per_pair[tied]).view("<f4")
        pairs, nodes, ranks = (np.concatenate(part) for part in zip(*found)) if found else (np.zeros(0, np.int64),) * 3
        keep = np.isin(pairs, tied)
        pairs, nodes, ranks = pairs[keep], nodes[keep], ranks[keep]
        row = np.searchsorted(tied, pairs)
        at = np.cumsum(per_pair[tied]) - per_pair[tied]  # each tied pair's values in ``values``
        candidates = np.concatenate([node, nodes])
        value = np.concatenate([values[at], values[at[row] + 1 + ranks - counts[pairs, 1].astype(np.int64)]])
        owner = np.concatenate([np.arange(len(tied)), row])
        order = np.lexsort((candidates, owner))
        owner, candidates, value = owner[order], candidates[order], value[order]
        place = np.arange(len(owner)) - np.searchsorted(owner, owner)  # a candidate's column in its pair's row
        shape = (len(tied), int(place.max()) + 1)
        table, scores = np.full(shape, -1, np.int64), np.zeros(shape, np.float32)
        table[owner, place], scores[owner, place] = candidates, value
        return tie_winners(scores, table)

    def _tiles(self, model_id: str, f: h5py.File) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.dtype]:
        """(tile bounds, where each node's block starts (V + 1), ranks each node stores, the rivals' item
        size and type) of a label's pair rivals (``mllbench.maths.mll.rival_blocks``): ~80 kB a label."""
        with self._opening:
            if model_id not in self._rival_tiles:
                dtype = np.dtype(index_dtype(len(self.wnids) + 1)).newbyteorder("<")
                self._rival_tiles[model_id] = (np.asarray(f.attrs["rival_tiles"], np.int64), f["rival_block_at"][:],
                                               f["rival_ranks"][:].astype(np.int64), dtype.itemsize, dtype)
            return self._rival_tiles[model_id]

    def _rival_data(self, model_id: str, f: h5py.File) -> h5py.Dataset:
        """The label's ``rival_blocks`` dataset, looked up once (each lookup in HDF5 costs ~0.1 ms)."""
        with self._opening:
            if model_id not in self._rival_datasets:
                self._rival_datasets[model_id] = f["rival_blocks"]
            return self._rival_datasets[model_id]

    def _arrays(self, model_id: str, f: h5py.File) -> tuple:
        """The label's caption and image embeddings: in memory when they are small (HDF5 fancy
        indexing costs ~2 ms a call, most of a cached run on the embedded benchmark), else the
        HDF5 datasets themselves (the paper's labels are ~1 GB per model)."""
        if model_id not in self._memory:
            self._memory[model_id] = ((f["caption_emb"][:], f["image_emb"][:]) if self._small(f)
                                      else (f["caption_emb"], f["image_emb"]))
        return self._memory[model_id]

    def _small(self, f: h5py.File) -> bool:
        """Whether the label is held in memory."""
        return self._fact(f, "small", lambda: f["caption_emb"].nbytes + f["image_emb"].nbytes <= self.in_memory_bytes)

    def _current_rivals(self, f: h5py.File) -> bool:
        """Whether the label's pair rivals are of this layout."""
        return self._fact(f, "rivals", lambda: f.attrs.get("rival_layout") == RIVAL_LAYOUT)

    def _fact(self, f: h5py.File, name: str, decide: Callable[[], bool]) -> bool:
        """``decide()`` for label ``f``, once per label: each asks HDF5 (~0.5 ms a time)."""
        key = (f.filename, name)
        if key not in self._facts:
            self._facts[key] = decide()
        return self._facts[key]

    def _row_file(self, model_id: str, data: h5py.Dataset) -> RowFile:
        """The label's file opened for reads beside h5py (mllbench.pipeline.rowio), once per label."""
        with self._opening:
            if model_id not in self._row_files:
                self._row_files[model_id] = RowFile(data.file.filename, self._direct)
            return self._row_files[model_id]

    def _read(self, model_id: str, data: np.ndarray | h5py.Dataset, rows: np.ndarray) -> np.ndarray:
        """:func:`read_rows`; from a label on disk straight from its file."""
        out = self._row_file(model_id, data).rows(data, rows) if isinstance(data, h5py.Dataset) else None
        return read_rows(data, rows) if out is None else out

    def _runs(self, model_id: str, data: h5py.Dataset, starts: np.ndarray,
              lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(buffer, at): ``data``'s byte ranges, range i at ``buffer[at[i]:at[i] + lengths[i]]``; the file's
        sectors or pages holding them where it has plain bytes (``RowFile.pages``: no call per range), else
        concatenated."""
        found = self._row_file(model_id, data).pages(data, starts, lengths)
        if found is not None:
            return found
        lengths = np.asarray(lengths, np.int64)
        return self._ranges(model_id, data, starts, lengths), np.cumsum(lengths) - lengths

    def _ranges(self, model_id: str, data: h5py.Dataset, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``data``'s ranges concatenated, straight from the file where it is contiguous (not through
        HDF5, whose 64 kB sieve buffer reads a small slice 30x over), else by :func:`read_ranges`."""
        out = self._row_file(model_id, data).ranges(data, starts, lengths)
        return read_ranges(data, starts, lengths, 2**14) if out is None else out

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        for rows in self._row_files.values():
            rows.close()
        self._row_files.clear()
        self._memory.clear()
        self._rival_tiles.clear()
        self._rival_datasets.clear()
        self._unreadable.clear()
        self._facts.clear()
