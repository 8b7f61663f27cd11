"""Model Label Learning maths, Eqs. 2-7 of the paper: arrays in, arrays out.

Choices where the paper is silent (each is a parameter of the MLL selector,
and listed in docs/methods.md):
- ``nodes_per_class``: how many graph nodes each class is matched to (the
  paper writes "top k"; the authors' code uses 5, which is our default).
- ``normalize_z``: Z holds raw caption cosine similarities as printed; set it
  to divide each column by its sum so p_{m,y} is a weighted mean instead.
- ties in the Eq. 5 argmax go to the first selected node (numpy argmax); a tie
  therefore counts as correct only for that node. Cosines within rounding of
  each other (:func:`near_margin`) are compared as each one computed alone
  (:func:`canonical_cosines`, :func:`tie_winners`), so no path's result hangs
  on which BLAS kernel a matrix product used.
- nodes without images carry no label and are never matched.

Eq. 5 at hub scale: a label lists each (image, node) pair's rivals, the nodes that
may rank at or above the pair's node (:func:`pair_rivals`), node after node and rank
by rank within a node, with the pairs' counts in one block per node (:func:`rival_blocks`);
a selection reads only its nodes' blocks, only as many ranks as its size needs
(:func:`rival_depth`), and decides each pair from them (:func:`tile_hits`,
:func:`rival_hits`). Rivals are split by a margin (:func:`near_margin`) that
bounds the float32 rounding of any two computations of a cosine, so a decided pair
is the dense argmax's in any computation; a near-tie is settled by the cosines the
label stores for it (:func:`tie_winners`), and pairs with more rivals than listed
are scored densely. Each image's ``TOP_NODES`` most similar nodes
(:func:`top_nodes`, :func:`top_node_hits`) are stored too, for selectors that read
them; ``TOP_NODES_MIN_WORK`` is kept for them (the built-in MLL no longer uses it).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# top nodes stored per image. A 1,000-class task at the paper's scale selects ~2,000 of 9,055 nodes: with 16,
# 1.5 % of its images (random labels) are undecided and read densely from scattered rows (~1 s per model on a
# cold disk); with 32, ~0.02 %. 32 cost 26 MB per model at the paper's scale (4 % of a label).
TOP_NODES = 32
RIVALS = 255  # rivals listed per (image, node) pair (pair_rivals), at most: beyond them a pair is scored densely
RANK_TILES = (0, 4, 8, 16, 24, 32, 64, 128)  # where the tiles of rivals' ranks start (rank_tiles); 24: a node's counts
# and first 24 ranks fill one page (75 pairs: 225 + 3,600 bytes), and settle ~90 % of a 1,000-class task's nodes
RIVAL_PAGE = 4096  # a node's block of rivals at least this long starts on a multiple of it (rival_blocks)
TOP_NODES_MIN_WORK = 2**27  # images x selected nodes above which Eq. 5 reads top nodes (2**27: 0.5 GB of float32)


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b``."""
    return l2_normalize(a) @ l2_normalize(b).T


def model_label(image_emb: np.ndarray, caption_emb: np.ndarray) -> np.ndarray:
    """Eq. 2-4: s^v_{m,x} = sim(I_m(x), T_m(d_v)) for images x and nodes v."""
    return cosine(image_emb, caption_emb)


def top_k(sim: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` largest entries' columns, ordered by (-value, column): the first ``k`` of a
    stable argsort of ``-sim``, as np.argmax breaks ties, without sorting whole rows (a stable
    argsort of 9,055 nodes x 1,000 classes takes ~1 s; a partition ~0.1 s)."""
    if k == 0:
        return np.zeros((len(sim), 0), np.int64)
    top = np.sort(np.argpartition(-sim, k - 1, axis=1)[:, :k], axis=1)  # a top k, by column
    values = np.take_along_axis(sim, top, 1)
    # a tie with the k-th value outside the partition: the lower column must win
    for row in np.flatnonzero((sim >= values.min(1, keepdims=True)).sum(1) > k):
        top[row] = np.sort(np.argsort(-sim[row], kind="stable")[:k])
        values[row] = sim[row, top[row]]
    return np.take_along_axis(top, np.argsort(-values, axis=1, kind="stable"), 1)


def transfer_matrix(class_emb: np.ndarray, node_emb: np.ndarray, nodes_per_class: int,
                    eligible: np.ndarray | None = None,
                    normalize_z: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Match classes to graph nodes by caption similarity (Sec. 4.2).

    Returns ``(selected, Z)``: the sorted indices of V^Selected into the node
    list and Z of shape (|V^Selected|, C) whose entry z_vy is the caption
    similarity of node v and class y if v is among y's top nodes, else 0.
    """
    sim = cosine(node_emb, class_emb)  # (V, C)
    if eligible is not None:
        sim = np.where(np.asarray(eligible, bool)[:, None], sim, -np.inf)
    n_eligible = int(np.isfinite(sim[:, 0]).sum()) if sim.size else 0
    k = min(nodes_per_class, n_eligible)
    if k == 0:
        raise ValueError("no graph node is eligible for matching")
    top = top_k(np.ascontiguousarray(sim.T), k).T  # (k, C); ties go to the lower node index
    selected = np.unique(top)
    z = np.zeros((len(selected), sim.shape[1]), dtype=np.float32)
    row = np.searchsorted(selected, top)
    cols = np.broadcast_to(np.arange(sim.shape[1]), top.shape)
    z[row, cols] = sim[top, cols]
    if normalize_z:
        z = z / np.where(z.sum(0) == 0, 1, z.sum(0))
    return selected, z


def node_hits(sim: np.ndarray, image_node: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 5's numerator and denominator per node: (images whose argmax over V^Selected is
    their node, images). Both are counts, so blocks of images add up exactly."""
    hits = (np.argmax(sim, axis=-1) == image_node).astype(np.float64)
    counts = np.bincount(image_node, minlength=n_nodes).astype(np.float64)
    if hits.ndim == 1:
        correct = np.bincount(image_node, weights=hits, minlength=n_nodes)
    else:
        correct = np.stack([np.bincount(image_node, weights=h, minlength=n_nodes) for h in hits])
    return correct, counts


def index_dtype(n_values: int) -> type:
    """The integer type that stores node indices of ``n_values`` distinct values: uint16 up to
    65,536 (half the bytes of int32, read by every large selection), else int32."""
    return np.uint16 if n_values <= 2**16 else np.int32


def top_nodes(image_emb: np.ndarray, caption_emb: np.ndarray, k: int = TOP_NODES,
              max_bytes: int = 64 * 2**20) -> np.ndarray:
    """Each image's ``min(k, nodes)`` most similar nodes, ordered by (-sim, node index) as
    np.argmax over sorted node indices breaks ties; computed in blocks of images whose
    similarity block is at most ~``max_bytes``, so memory stays that of the embeddings.
    uint16 up to 65,536 nodes: reading them is most of a large selection's time per model,
    and half the bytes of int32 (26 MB instead of 52 MB at the paper's scale)."""
    n_nodes = len(caption_emb)
    k = min(k, n_nodes)
    out = np.empty((len(image_emb), k), index_dtype(n_nodes))
    step = max(1, max_bytes // (4 * max(n_nodes, 1)))
    for start in range(0, len(image_emb), step):
        sim = cosine(np.asarray(image_emb[start:start + step], np.float32), caption_emb)
        out[start:start + len(sim)] = top_k(sim, k)
    return out


def top_node_hits(top: np.ndarray, image_node: np.ndarray,
                  in_selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 5's argmax from stored top nodes: (decided, hit) per (image, node) pair.

    ``top`` is (pairs, K), each image's row of :func:`top_nodes`; ``image_node`` the
    graph index of the pair's node; ``in_selected`` a boolean mask of V^Selected over
    all nodes. Every node outside an image's top K is at most as similar as (and, if
    equal, of higher index than) its last entry, so the first selected entry is the
    argmax over V^Selected; a pair none of whose K entries is selected is undecided.
    """
    member = np.asarray(in_selected, bool)[top]
    decided = member.any(axis=1)
    first = top[np.arange(len(top)), member.argmax(axis=1)]
    return decided, decided & (first == image_node)


def near_margin(dim: int) -> float:
    """4 eps for float32 cosines of d-dimensional rows: any two computations of one cosine (any
    BLAS blocking, normalisation included) are within 2 eps of each other and of the exact value,
    so nodes whose cosines differ by more than 4 eps rank the same in every computation.
    eps = (2d + 16) u bounds a d-term float32 dot product (d u) plus the rows' normalisation
    (d/2 + 3) u each, u = 2**-24 (Higham, Accuracy and Stability, 3.1)."""
    return 4 * (2 * dim + 16) * 2.0**-24


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges [start, start + length), in order."""
    lengths = np.asarray(lengths, np.int64)
    shift = np.repeat(np.asarray(starts, np.int64) - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(int(lengths.sum()), dtype=np.int64)


def pair_rivals(image_emb: np.ndarray, caption_emb: np.ndarray, node_ptr: np.ndarray, node_images: np.ndarray,
                k: int = RIVALS, max_bytes: int = 64 * 2**20, progress: Callable[[int, int], None] | None = None,
                top: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each (image, node) pair's rivals: the nodes that may rank at or above the pair's node.

    Pairs are the graph's (``node_ptr``, ``node_images``: node after node). For pair (x, v)
    the rivals are the nodes u != v with sim(x, u) >= sim(x, v) - :func:`near_margin`, by
    (-sim, index), at most ``k``: the first ``definite`` of them exceed sim(x, v) by more
    than the margin (they outrank v in any computation). Returns ``counts`` (pairs, 3) uint8
    [rivals listed, definite, more than k]; ``rivals`` node after node, in tiles of ranks
    (:func:`tile_layout`, padded with ``len(caption_emb)``, no node), ``node_ranks`` (V,): the
    ranks each node stores;
    and each image's ``top`` nodes as :func:`top_nodes` ranks them (the same similarities: one
    matmul for both). Why tiles of ranks: a selection of s of V nodes finds a selected rival, if
    any, within about V / s ranks, so it reads the first tiles of its nodes (:func:`rival_depth`),
    not every listed rival, a small selection deeper, a large one a few ranks, each node's first
    tiles in one run, and each tile of many nodes picked without a loop per node.
    Last, ``tie_values``: for each pair with near rivals (listed, not definite) and none unlisted,
    the :func:`canonical_cosines` of its node and of each near rival, in rank order
    (:func:`tie_counts` a pair, pair after pair), so a selection settles its near-ties
    (:func:`tie_winners`) without reading their embeddings.
    Images are scored in blocks of ~``max_bytes``.
    """
    n_nodes, n_images = len(caption_emb), len(image_emb)
    k = rivals_listed(n_nodes, k)
    if k > 255:
        raise ValueError("at most 255 rivals per pair (counts are uint8)")
    pair_node = np.repeat(np.arange(n_nodes), np.diff(node_ptr))
    by_image = np.argsort(node_images, kind="stable")
    sorted_images = np.asarray(node_images)[by_image]
    margin = near_margin(np.shape(image_emb)[1])
    captions = l2_normalize(caption_emb)
    counts = np.zeros((len(node_images), 3), np.uint8)
    top = min(top, n_nodes)
    tops = np.empty((n_images, top), index_dtype(n_nodes))
    tie_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    listed_rivals = np.full((len(node_images), k), n_nodes, index_dtype(n_nodes + 1))  # n_nodes pads
    step = max(1, max_bytes // (4 * max(n_nodes, 1)))
    for start in range(0, n_images, step):
        lo, hi = np.searchsorted(sorted_images, [start, start + step])
        pairs = by_image[lo:hi]
        sim = l2_normalize(np.asarray(image_emb[start:start + step], np.float32)) @ captions.T
        head = top_k(sim, min(max(k + 2, top), n_nodes))  # k + 1 rivals besides v: whether there are more than k
        tops[start:start + len(sim)] = head[:, :top]
        if len(pairs):
            row, node = sorted_images[lo:hi] - start, pair_node[pairs]
            first = head[row, :min(k + 2, n_nodes)]
            value, own = np.take_along_axis(sim[row], first, 1), sim[row, node][:, None]
            other = first != node[:, None]
            near = other & (value >= own - margin)
            listed = near & (np.cumsum(near, 1) <= k)
            counts[pairs] = np.stack([listed.sum(1), (listed & (value > own + margin)).sum(1),
                                      near.sum(1) > k], 1)
            front = np.argsort(~listed, axis=1, kind="stable")[:, :k]  # listed rivals first, in rank order
            listed_rivals[pairs] = np.where(np.take_along_axis(listed, front, 1),
                                            np.take_along_axis(first, front, 1), n_nodes)
            tied = np.flatnonzero(tie_counts(counts[pairs]))
            if len(tied):
                c = counts[pairs[tied]].astype(np.int64)
                lengths = 1 + c[:, 0] - c[:, 1]  # the pair's node, then its near rivals
                at = np.cumsum(lengths) - lengths
                nodes = np.empty(int(lengths.sum()), np.int64)
                nodes[at] = node[tied]
                near_row = np.repeat(np.arange(len(tied)), c[:, 0] - c[:, 1])
                nodes[np.delete(np.arange(len(nodes)), at)] = listed_rivals[pairs[tied][near_row],
                                                                            concat_ranges(c[:, 1], c[:, 0] - c[:, 1])]
                rows = np.asarray(image_emb[start:start + step], np.float32)[np.repeat(row[tied], lengths)]
                tie_parts.append((pairs[tied], lengths,
                                  canonical_cosines(rows, np.asarray(caption_emb, np.float32)[nodes])))
        if progress:
            progress(min(start + step, n_images), n_images)
    rivals, node_ranks = tile_layout(listed_rivals, counts[:, 0], np.asarray(node_ptr), k)
    return counts, rivals, node_ranks, tops, _in_pair_order(tie_parts, tie_counts(counts))


def tie_counts(counts: np.ndarray) -> np.ndarray:
    """Tie values :func:`pair_rivals` stores per pair: its node and its near rivals, where it has near
    rivals and none unlisted (a pair with unlisted rivals is scored densely); else none."""
    counts = np.asarray(counts, np.int64)
    near = counts[:, 0] - counts[:, 1]
    return np.where((near > 0) & (counts[:, 2] == 0), 1 + near, 0)


def _in_pair_order(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], per_pair: np.ndarray) -> np.ndarray:
    """The (pairs, lengths, values) parts of the image blocks as one array, pair after pair."""
    out = np.zeros(int(per_pair.sum()), np.float32)
    at = np.cumsum(per_pair) - per_pair
    for pairs, lengths, values in parts:
        out[concat_ranges(at[pairs], lengths)] = values
    return out


def rivals_listed(n_nodes: int, k: int = RIVALS) -> int:
    """Rivals listed per pair at most on a graph of ``n_nodes``: ``k``, or every other node."""
    return max(0, min(k, n_nodes - 1))


def rank_tiles(k: int) -> np.ndarray:
    """The rank ranges of the stored rivals when up to ``k`` are listed: [0, 4), [4, 8), [8, 16), [16, 24),
    [24, 32), ..., [128, k): a selection reads whole tiles, the first few for a large selection, all for a small one."""
    return np.array([b for b in RANK_TILES if b < k] + [k], np.int64)


def tile_layout(listed_rivals: np.ndarray, listed: np.ndarray, node_ptr: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rivals, node_ranks): node after node; within a node, tile after tile of ranks
    (:func:`rank_tiles`); within a tile, pair after pair (each pair's ranks of the tile, padded
    beyond its listed ones). A node stores the tiles up to its most listed rivals (``node_ranks``, a
    tile bound), so its first tiles are one contiguous run (:func:`rival_offsets`)."""
    sizes = np.diff(node_ptr)
    bounds = rank_tiles(k)
    most = np.zeros(len(sizes), np.int64)
    has = sizes > 0
    if has.any():
        most[has] = np.maximum.reduceat(listed.astype(np.int64), node_ptr[:-1][has])
    node_ranks = bounds[np.searchsorted(bounds, most)]
    start = rival_offsets(sizes, node_ranks)
    rivals = np.empty(int(start[-1]), listed_rivals.dtype)
    pair_ranks = np.repeat(node_ranks, sizes)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        held = node_ranks > lo
        rivals[concat_ranges(start[:-1][held] + sizes[held] * lo, sizes[held] * (hi - lo))] = \
            listed_rivals[pair_ranks > lo, lo:hi].reshape(-1)
    return rivals, node_ranks.astype(np.uint8)


def rival_blocks(counts: np.ndarray, rivals: np.ndarray, node_ranks: np.ndarray, sizes: np.ndarray,
                 tie_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(blocks, block_at): one block of bytes per node, its pairs' ``counts`` (3 bytes a pair, padded to
    the rivals' item size), its tiles of ``rivals`` (:func:`tile_layout`, little-endian), then its pairs'
    ``tie_values`` (float32, :func:`tie_counts` a pair), and where each block starts (V + 1). Why one
    block: a selection's first read of a node is its counts and its first tiles, one run; and a block
    of at least ``RIVAL_PAGE`` bytes starts on a page, so those ~3.8 kB (75 pairs, 24 ranks) cost one
    page to read, not two (a page costs as much as its bytes)."""
    sizes, ranks = np.asarray(sizes, np.int64), np.asarray(node_ranks, np.int64)
    item = rivals.dtype.itemsize
    head = block_head(sizes, item)
    ties = np.zeros(len(sizes), np.int64)
    has = sizes > 0
    if has.any():
        ptr = np.cumsum(sizes) - sizes
        ties[has] = np.add.reduceat(tie_counts(counts), ptr[has])
    length = np.where(has, head + sizes * ranks * item + 4 * ties, 0)
    at = np.zeros(len(sizes) + 1, np.int64)
    pos = 0
    for v, n in enumerate(length.tolist()):  # once per label assembled: ~5 ms at 9,055 nodes
        if n >= RIVAL_PAGE and pos % RIVAL_PAGE:
            pos += RIVAL_PAGE - pos % RIVAL_PAGE
        at[v], pos = pos, pos + n
    at[-1] = pos
    blocks = np.zeros(pos, np.uint8)
    blocks[concat_ranges(at[:-1], 3 * sizes)] = np.asarray(counts, np.uint8).reshape(-1)
    tiles = at[:-1] + head
    blocks[concat_ranges(tiles, sizes * ranks * item)] = rivals.astype(rivals.dtype.newbyteorder("<")).view(np.uint8)
    blocks[concat_ranges(tiles + sizes * ranks * item, 4 * ties)] = np.asarray(tie_values, "<f4").view(np.uint8)
    return blocks, at


def block_counts(buffer: np.ndarray, at: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(pairs, 3) counts of the nodes whose :func:`rival_blocks` start at ``at`` in ``buffer`` (bytes), each
    node's ``sizes`` pairs, node after node: a block opens with them, 3 bytes a pair."""
    return np.asarray(buffer)[concat_ranges(at, 3 * np.asarray(sizes, np.int64))].reshape(-1, 3)


def block_head(sizes: np.ndarray, item: int) -> np.ndarray:
    """Bytes of each node's counts in :func:`rival_blocks`, padded to the rivals' ``item`` size."""
    return -(-3 * np.asarray(sizes, np.int64) // item) * item


def rival_offsets(sizes: np.ndarray, node_ranks: np.ndarray) -> np.ndarray:
    """(V + 1,): where each node's rivals start in :func:`tile_layout` (its pairs x the ranks it stores)."""
    return np.concatenate([[0], np.cumsum(np.asarray(sizes, np.int64) * np.asarray(node_ranks, np.int64))])


def rival_depth(n_selected: int, n_nodes: int) -> int:
    """Ranks to read first: V / s, the ranks within which a pair of a random selection of s of V
    nodes shows a selected rival, when it has one, with probability 1 - 1/e. Nodes with pairs still
    open then read the next tile, and so on (``LabelView.decided_hits``): a node is read about as
    deep as its hardest pair needs, within a factor 2. Only the cost depends on it, never a result."""
    share = min(max(n_selected, 1) / max(n_nodes, 1), 1.0)
    return int(np.clip(np.ceil(1.0 / share), 1, 255))


def rival_hits(counts: np.ndarray, ranks: np.ndarray, in_selected: np.ndarray, start: int = 0,
               near_before: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eq. 5's argmax from :func:`pair_rivals`: (decided, hit, deeper, near) per pair, for pairs whose node is
    selected; ``deeper``: undecided, and listed ranks beyond those read; ``near``: a selected rival within
    the margin and none beyond it (a near-tie, for :func:`tie_winners` once all listed ranks are read).

    ``counts`` are those of the pairs in question and ``ranks`` (pairs, r) their rivals of ranks
    [``start``, ``start`` + r) (``len(in_selected)`` pads), read after ranks [0, ``start``) showed
    none of them a selected definite rival (``near_before``: which showed a selected near one);
    ``in_selected`` a boolean mask of V^Selected over all nodes. A selected definite rival outranks
    the pair's node: a miss. A selected rival within the margin is a near-tie (its candidates are
    the selected near rivals, all listed after the definite ones), and more rivals than listed or
    read an unknown. Otherwise every selected node ranks strictly below: a hit, in any computation.
    """
    member = np.take(np.append(np.asarray(in_selected, bool), False), ranks)
    seen = rows_any(member)
    rank = np.arange(start, start + member.shape[1], dtype=np.int16)  # definite rivals come first:
    beaten = rows_any(member & (rank < counts[:, 1:2].astype(np.int16)))  # a selected one among them
    near = (seen & ~beaten) | (np.zeros(len(seen), bool) if near_before is None else near_before)
    all_read = counts[:, 0] <= start + ranks.shape[1]
    hit = ~seen & ~near & all_read & (counts[:, 2] == 0)
    return beaten | hit, hit, ~beaten & ~hit & ~all_read, near


def rows_any(mask: np.ndarray) -> np.ndarray:
    """``mask.any(axis=1)`` for a (n, w) boolean array, 4 or 8 bytes at a time where w allows: numpy's
    reduction over short rows costs ~100 ns a row, most of a 1,000-class selection's decisions."""
    mask = np.ascontiguousarray(mask, bool)
    width = mask.shape[1]
    if width and width % 8 == 0:
        return (mask.view(np.uint64) != 0).any(axis=1) if width > 8 else mask.view(np.uint64)[:, 0] != 0
    if width == 4:
        return mask.view(np.uint32)[:, 0] != 0
    return mask.any(axis=1)


def tile_hits(flat: np.ndarray, run: np.ndarray, sizes: np.ndarray, held: np.ndarray, bounds: np.ndarray, lo: int,
              hi: int, counts: np.ndarray, in_selected: np.ndarray, near_before: np.ndarray,
              open_: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """:func:`rival_hits` straight from tiles [``lo``, ``hi``) of rivals as :func:`tile_layout` stores them:
    from ``run``, ``flat`` holds each node's tiles of those ranks that it holds (``held``: the ranks
    each stores; ``sizes``: its pairs), each pair after pair; ``counts``, ``near_before`` and ``open_``
    (whether still undecided) are the nodes' pairs', in order. Returns (decided, hit, deeper, near)
    per pair (for the open ones) and the selected rivals of the near ones, (pair, node, rank).

    Tile after tile, each for the pairs it has not decided yet: a 1,000-class selection reads
    24 ranks of ~160k pairs, and the first 4 decide two thirds of them.
    """
    sizes, held, bounds = np.asarray(sizes, np.int64), np.asarray(held, np.int64), np.asarray(bounds, np.int64)
    n_pairs = int(sizes.sum())
    pair_node = np.repeat(np.arange(len(sizes)), sizes)
    at = np.arange(n_pairs) - (np.cumsum(sizes) - sizes)[pair_node]  # each pair's place in its node
    run = np.asarray(run, np.int64)  # where each node's tiles start in flat
    decided, hit, near = np.zeros(n_pairs, bool), np.zeros(n_pairs, bool), np.asarray(near_before, bool).copy()
    deeper = np.asarray(open_, bool).copy()  # undecided, with ranks to read
    found_pair, found_node, found_rank = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for t in range(lo, hi):
        rows = np.flatnonzero(deeper)
        if not len(rows):
            break
        width, node = int(bounds[t + 1] - bounds[t]), pair_node[rows]
        first = run[node] + sizes[node] * (bounds[t] - bounds[lo]) + at[rows] * width
        has = held[node] > bounds[t]  # else: no rank left to read
        windows = np.lib.stride_tricks.sliding_window_view(flat, width)  # row i: flat[i:i + width], no copy
        if has.all():
            ranks = windows[first]
        else:
            ranks = np.full((len(rows), width), len(in_selected), flat.dtype)
            ranks[has] = windows[first[has]]
        done, hits, more, tied = rival_hits(counts[rows], ranks, in_selected, int(bounds[t]), near[rows])
        decided[rows], hit[rows], deeper[rows], near[rows] = done, hits, more, tied
        tied = np.flatnonzero(tied)
        row, rank = np.nonzero(np.append(np.asarray(in_selected, bool), False)[ranks[tied]])
        found_pair.append(rows[tied[row]])
        found_node.append(ranks[tied[row], rank].astype(np.int64))
        found_rank.append(bounds[t] + rank)
    return decided, hit, deeper, near, (np.concatenate(found_pair), np.concatenate(found_node),
                                        np.concatenate(found_rank))


def canonical_cosines(images: np.ndarray, captions: np.ndarray) -> np.ndarray:
    """Row i: the cosine of ``images[i]`` and ``captions[i]``, each pair computed alone (rows normalised,
    multiplied, summed along the row), so its float32 value depends on the two rows only, never on
    which other rows or how many are computed with it, as a matrix product's may (BLAS picks its
    kernel by shape). Eq. 5's near-ties are settled with it (:func:`tie_winners`)."""
    a = l2_normalize(np.ascontiguousarray(images, np.float32))
    b = l2_normalize(np.ascontiguousarray(captions, np.float32))
    return np.add.reduce(a * b, axis=1)


def tie_winners(values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Eq. 5's argmax of near-ties: per image, the candidate node of largest :func:`canonical_cosines`
    ``values``, the lowest node index among equals (as np.argmax over sorted selected nodes breaks ties).

    ``candidates`` (n, c) are the nodes each image may be won by, padded with -1, and ``values`` their
    cosines (pads: anything). Why a rule of its own: two computations of a cosine differ by rounding,
    so of two nodes whose cosines are within :func:`near_margin` a dense block and a selection's own
    rows could crown different ones; every path (dense, pair rivals, the tie values a label stores)
    settles such a tie among the same candidates with the same values.
    """
    n, c = candidates.shape
    if not c:
        return np.full(n, -1)
    held = candidates >= 0
    value = np.where(held, values, -np.inf)
    key = np.where(held, candidates, np.iinfo(np.int64).max)
    order = np.lexsort((key, -value), axis=1)
    return np.take_along_axis(candidates, order[:, :1], 1)[:, 0]


def precision_from_hits(correct: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Eq. 5 from :func:`node_hits` (summed over blocks of images); 0 for a node without images."""
    return correct / np.where(counts == 0, 1, counts)


def node_precision(sim: np.ndarray, image_node: np.ndarray, n_nodes: int) -> np.ndarray:
    """Eq. 5: p_{m,v}, the share of X_v whose argmax over V^Selected is v.

    ``sim`` is (n_images, |V^Selected|): s^v_{m,x} restricted to the selected
    nodes; ``image_node[i]`` is the position (in V^Selected) of the node image
    i represents. An image shared by several nodes appears once per node.
    Works on a batch of models when ``sim`` is (M, n_images, |V^Selected|).
    """
    return precision_from_hits(*node_hits(sim, image_node, n_nodes))


def class_precision(p_v: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Eq. 6: p_{m,y} = sum_v p_{m,v} z_vy (rows of ``p_v`` are models)."""
    return np.asarray(p_v) @ np.asarray(z)


def reuse_metric(p_y: np.ndarray, alpha: float) -> np.ndarray:
    """Eq. 7: r_{m,y} = alpha p_{m,y} + (1 - alpha) mean_y' p_{m,y'}."""
    p_y = np.asarray(p_y, dtype=np.float64)
    return alpha * p_y + (1.0 - alpha) * p_y.mean(axis=-1, keepdims=True)
