"""Pair rivals (issue 19): Eq. 5 read from a selection's own (image, node) pairs, exactly the dense argmax."""
import os

import h5py
import numpy as np
import pytest

from test_top_nodes import small_graph, write_label

from mllbench.host.benchmark import load_benchmark
from mllbench.host.plugins import get_host
from mllbench.maths.mll import (block_head, canonical_cosines, concat_ranges, cosine, near_margin, pair_rivals,
                                rank_tiles, rival_blocks, rival_depth, rival_hits, rival_offsets, tie_counts,
                                tie_winners, top_nodes)
from mllbench.pipeline.labeling import (RIVAL_LAYOUT, GraphLabels, LabelWriter, label_is_current, label_model,
                                       read_ranges)
from mllbench.pipeline.directio import DirectReads, sector_runs
from mllbench.pipeline.rowio import RowFile
from mllbench.pipeline.session import Session
from mllbench.plugins.selector_mll import selected_node_hits
from mllbench.registry.store import Store, atomic_h5


def test_rival_hits_by_hand():
    counts = np.array([[0, 0, 0],   # no rival: a hit whatever is selected
                       [2, 1, 0],   # definite 3 (not selected), near 1 (selected): undecided
                       [2, 1, 0],   # definite 2 (selected): a miss
                       [1, 1, 1],   # definite 4 (not selected), more rivals unlisted: undecided
                       [1, 0, 0],   # near 4 (not selected), no more: a hit
                       [3, 3, 0]])  # definite 4, 0, 1 (selected): a miss, but only once rank 3 is read
    pad = 5  # no node
    ranks = np.array([[pad, pad, pad], [3, 1, pad], [2, 4, pad], [4, pad, pad], [4, pad, pad], [4, 0, 1]])
    selected = np.array([False, True, True, False, False])
    decided, hit, deeper, near = rival_hits(counts, ranks, selected)
    assert decided.tolist() == [True, False, True, False, True, True]
    assert hit.tolist() == [True, False, False, False, True, False]
    assert not deeper.any()
    assert near.tolist() == [False, True, False, False, False, False]  # pair 1: a near-tie, settled apart
    decided, hit, deeper, near = rival_hits(counts, ranks[:, :1], selected)  # the first rank read: pairs with more
    assert decided.tolist() == [True, False, True, False, True, False]  # stay open
    assert hit.tolist() == [True, False, False, False, True, False]
    assert deeper.tolist() == [False, True, False, False, False, True]  # pair 1: its near rival is unread
    assert not near.any()
    decided, hit, deeper, near = rival_hits(counts[5:], ranks[5:, 1:], selected, start=1)  # then the next ranks
    assert (decided.tolist(), hit.tolist(), deeper.tolist()) == ([True], [False], [False])
    assert rival_hits(counts[:1], ranks[:1, :0], selected)[1].tolist() == [True]  # nothing to read: a hit
    # a near rival seen in an earlier round: the pair is a near-tie, not a hit, though no later rank is selected
    decided, hit, deeper, near = rival_hits(np.array([[3, 1, 0]]), np.array([[4, 3]]), selected, start=1,
                                            near_before=np.array([True]))
    assert (decided.tolist(), hit.tolist(), deeper.tolist(), near.tolist()) == ([False], [False], [False], [True])
    decided, hit, deeper, near = rival_hits(np.array([[3, 1, 0]]), np.array([[4, 1]]), selected, start=1)
    assert (decided.tolist(), near.tolist()) == ([False], [True])  # a selected rival after the definite ones


def test_tie_winners_by_hand():
    """Near-ties go to the larger cosine of each pair computed alone, equals to the lower node."""
    image = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
    captions = np.array([[1.0, 0.1], [1.0, 0.2], [2.0, 2.0], [1.0, 1.0], [0.0, 1.0]], np.float32)
    candidates = np.array([[0, 1, -1], [3, 2, 4], [1, 4, -1]])  # -1 pads
    held = candidates >= 0
    values = np.zeros(candidates.shape, np.float32)
    values[held] = canonical_cosines(np.repeat(image, held.sum(1), 0), captions[candidates[held]])
    # image 0: cos 0.995 (node 0) > 0.981 (node 1); image 1: nodes 2 and 3 both 1.0: the lower, 2;
    # image 2 (a zero row): every cosine 0, the lower of its candidates
    assert tie_winners(values, candidates).tolist() == [0, 2, 1]
    rows = canonical_cosines(np.repeat(image[:1], 5, 0), captions)
    assert rows[0] == canonical_cosines(image[:1], captions[:1])[0]  # alone or among others, the same bits
    np.testing.assert_allclose(rows, cosine(image[:1], captions)[0], rtol=1e-6)


def test_rival_depth_reads_fewer_ranks_for_larger_selections():
    assert [rival_depth(s, 9055) for s in (1, 50, 500, 5000, 9055)] == [255, 182, 19, 2, 1]


def node_ranks(rivals, held, ptr, selected, depth, k=5):
    """The first ``depth`` ranks of the selected nodes' pairs, read from the tiles as stored."""
    sizes, bounds = np.diff(ptr), rank_tiles(k)
    starts = rival_offsets(sizes, held)
    out = []
    for v in selected:
        block = np.full((sizes[v], k), len(sizes), rivals.dtype)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if held[v] > lo:
                first = starts[v] + sizes[v] * lo
                block[:, lo:hi] = rivals[first:first + sizes[v] * (hi - lo)].reshape(-1, hi - lo)
        out.append(block[:, :depth])
    return np.concatenate(out)


def test_rival_blocks_by_hand(tmp_path):
    """A node's block: its pairs' counts (padded to the item size), then its tiles; a block of a page or more
    starts on a page, and HDF5 puts the dataset itself on a page (atomic_h5)."""
    counts = np.zeros((46, 3), np.uint8)
    counts[:, 0] = 2  # pair 2 (node 2's second) lists 2, 1 definite: 2 tie values (its node's, its near rival's)
    counts[:, 1] = 2
    counts[2, 1] = 1
    sizes, ranks = np.array([1, 0, 2, 3, 40]), np.array([4, 0, 4, 1000, 1000])  # node 3's block: 9 + 6,000 bytes
    rivals = np.arange(4 + 8 + 3000 + 40000, dtype=np.uint16)
    blocks, at = rival_blocks(counts, rivals, ranks, sizes, np.array([0.5, 0.25], np.float32))
    assert at.tolist() == [0, 12, 12, 4096, 3 * 4096, 3 * 4096 + 120 + 80000]  # 3 counts + 1 pad + 8 rivals;
    # 6 + 16 + 8 (pair 2's tie values); then a page: 9 + 1 pad + 6,000 (node 3), and the next page (node 4)
    assert blocks[:4].tolist() == [2, 2, 0, 0] and blocks[4:12].view(np.uint16).tolist() == [0, 1, 2, 3]
    assert blocks[12:18].tolist() == [2, 2, 0, 2, 1, 0] and blocks[18:34].view(np.uint16).tolist() == list(range(4, 12))
    assert blocks[34:42].view(np.float32).tolist() == [0.5, 0.25]
    assert blocks[4106:4108].view(np.uint16)[0] == 12
    assert blocks[3 * 4096 + 120:3 * 4096 + 122].view(np.uint16)[0] == 3012
    with atomic_h5(tmp_path / "aligned.h5") as f:
        f["small"] = np.zeros(5000, np.uint8)
        f["blocks"] = blocks
    reader = RowFile(str(tmp_path / "aligned.h5"))
    with h5py.File(tmp_path / "aligned.h5", "r") as f:
        assert len(blocks) >= 2**16 and f["blocks"].id.get_offset() % 4096 == 0  # so node 3 is on a file page
        lengths = np.array([11, 0, 21, 6009, 80119])  # each block but its first byte
        np.testing.assert_array_equal(reader.ranges(f["blocks"], at[:-1] + 1, lengths),
                                      blocks[concat_ranges(at[:-1] + 1, lengths)])
    reader.close()


def test_the_margin_bounds_float32_cosines_of_any_shape():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((300, 768)).astype(np.float16)
    captions = (rng.standard_normal((200, 768)) * np.geomspace(1e-3, 10, 768)).astype(np.float16)  # uneven terms
    exact = cosine(images.astype(np.float64), captions.astype(np.float64))
    eps = near_margin(768) / 4
    for rows, cols in ((slice(None), slice(None)), (slice(0, 1), slice(None)), (slice(5, 9), slice(3, 4)),
                       (slice(None), slice(0, 17))):
        sim = cosine(images[rows].astype(np.float32), captions[cols].astype(np.float32))
        assert np.abs(sim - exact[rows, cols]).max() < eps


def synthetic(quantize: float | None, seed: int = 0):
    """Embeddings, and pairs as build_graph makes them (some nodes share images, some have none)."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((200, 16))
    captions = rng.standard_normal((60, 16))
    if quantize:  # coarse values: exact ties between nodes, and a zero image tied everywhere
        images, captions = np.round(images * quantize) / quantize, np.round(captions * quantize) / quantize
        captions[7], images[3] = captions[5], 0
    chosen = [np.sort(rng.choice(200, rng.integers(0, 12), replace=False)) for _ in range(60)]
    ptr = np.cumsum([0] + [len(c) for c in chosen]).astype(np.int64)
    return images.astype(np.float16), captions.astype(np.float16), ptr, np.concatenate(chosen).astype(np.int64)


@pytest.mark.parametrize("quantize", [None, 2.0])
def test_pair_rivals_decide_as_the_dense_argmax_across_selection_sizes(quantize):
    images, captions, ptr, node_images = synthetic(quantize)
    counts, rivals, held, top, ties = pair_rivals(images, captions, ptr, node_images, k=5, top=9)
    blocks = pair_rivals(images, captions, ptr, node_images, k=5, max_bytes=4 * 60 * 7, top=9)  # 7 images a block
    for whole, part in zip((counts, rivals, held, top, ties), blocks):
        np.testing.assert_array_equal(whole, part)
    np.testing.assert_array_equal(top, top_nodes(images, captions, k=9))  # the ranking top_nodes makes
    sizes = np.diff(ptr)
    assert rank_tiles(5).tolist() == [0, 4, 5] and rank_tiles(255).tolist() == [0, 4, 8, 16, 24, 32, 64, 128, 255]
    for v in np.flatnonzero(sizes):  # a node stores the tiles its most listed rival reaches into
        most = counts[ptr[v]:ptr[v + 1], 0].max()
        assert held[v] == (0 if most == 0 else 4 if most <= 4 else 5)
    assert len(rivals) == sum(sizes[v] * held[v] for v in range(len(sizes)))  # node after node: no gap
    eligible = np.flatnonzero(sizes > 0)
    rng = np.random.default_rng(1)
    decided_any = undecided_any = False
    for size in (1, 2, 5, 20, len(eligible)):
        for _ in range(4):
            selected = np.sort(rng.choice(eligible, size, replace=False))
            pairs = concat_ranges(ptr[selected], sizes[selected])
            mask = np.zeros(60, bool)
            mask[selected] = True
            sim = cosine(images[node_images[pairs]].astype(np.float32), captions[selected].astype(np.float32))
            dense = np.argmax(sim, 1) == np.repeat(np.arange(size), sizes[selected])
            whole = rival_hits(counts[pairs], node_ranks(rivals, held, ptr, selected, 5), mask)
            assert not whole[2].any()  # every listed rival read
            for depth in (0, 1, 2, 5):  # a prefix of ranks decides a subset, the same way
                decided, hit, _, _ = rival_hits(counts[pairs], node_ranks(rivals, held, ptr, selected, depth), mask)
                np.testing.assert_array_equal(hit[decided], dense[decided])
                assert not (decided & ~whole[0]).any()
            decided_any |= whole[0].any()
            undecided_any |= (~whole[0]).any()
    assert decided_any and undecided_any


def test_selection_from_rivals_on_disk_equals_the_dense_one_in_memory(tmp_path):
    store, graph = Store(tmp_path / "registry"), small_graph()
    write_label(store, graph, "m", seed=1)
    memory = GraphLabels(store, graph, embed=lambda texts: pytest.fail("no text is embedded"))
    disk = GraphLabels(store, graph, embed=memory._embed)
    disk.in_memory_bytes = 0
    eligible = np.flatnonzero(graph.n_images > 0)
    rng = np.random.default_rng(2)
    decided = []
    for size in (1, 2, 5, 20, 60, len(eligible)):
        for _ in range(3):
            selected = np.sort(rng.choice(eligible, size, replace=False))
            pairs = memory.node_images(selected)
            np.testing.assert_array_equal(selected_node_hits(disk, "m", selected, pairs),
                                          selected_node_hits(memory, "m", selected, pairs))
            assert not memory.decided_hits("m", selected)[0].any()  # in memory: scored densely
            decided.append(disk.decided_hits("m", selected)[0].mean())
    assert max(decided) == 1 and np.mean(np.array(decided) > 0) > 0.5  # from rivals, wholly or in part
    memory.close(), disk.close()


class CountingLabels(GraphLabels):
    """GraphLabels that counts the near-ties its pair rivals settle (the real reading, observed)."""

    settled = 0

    def _tie_winners(self, model_id, f, selected, sizes, counts, pair_node, tied, found):
        self.settled += len(tied)
        return super()._tie_winners(model_id, f, selected, sizes, counts, pair_node, tied, found)


def test_near_ties_settle_the_same_from_rivals_and_densely(tmp_path):
    """Nodes whose captions are equal, or equal within rounding, tie on every image near them: the pair
    rivals settle those ties among their candidates as the dense path does, bit for bit."""
    store, graph = Store(tmp_path / "registry"), small_graph()
    rng = np.random.default_rng(5)
    captions = rng.standard_normal((len(graph.wnids), 32)).astype(np.float16).astype(np.float32)
    captions[1::4] = captions[0::4]  # exact ties
    captions[2::4] = captions[0::4] * (1 + 2.0**-10)  # the same direction: equal cosines but for rounding
    captions[3::4] = captions[0::4] + 2.0**-11 * np.sign(rng.standard_normal(captions[3::4].shape))  # near ones
    owner = np.repeat(np.arange(len(graph.image_refs) // 6) * 2 % len(graph.wnids), 6)
    images = captions[owner] + 0.05 * rng.standard_normal((len(graph.image_refs), 32))
    with Store.locked(store.label_path("m").parent), LabelWriter(store, graph, "m", 64) as writer:
        writer.commit_captions(captions)
        for start in writer.pending():
            writer.commit(start, images[start:start + len(writer.refs(start))])
        writer.finish()
    memory = GraphLabels(store, graph, embed=lambda texts: [])
    disk = CountingLabels(store, graph, embed=memory._embed)
    disk.in_memory_bytes = 0
    eligible = np.flatnonzero(graph.n_images > 0)
    for size in (2, 5, 20, len(eligible)):
        for _ in range(4):
            selected = np.sort(rng.choice(eligible, size, replace=False))
            pairs = memory.node_images(selected)
            np.testing.assert_array_equal(selected_node_hits(disk, "m", selected, pairs),
                                          selected_node_hits(memory, "m", selected, pairs))
            decided, hit = disk.decided_hits("m", selected)
            np.testing.assert_array_equal(hit[decided], memory.dense_hits("m", selected, pairs)[decided])
    assert disk.settled > 50  # near-ties were settled from the rivals, not only densely
    memory.close(), disk.close()
    with h5py.File(store.label_path("m"), "r") as f:  # the tie values a label stores: computed as a selection would
        image_rows, caption_rows = f["image_emb"][:], f["caption_emb"][:]
        blocks, at = f["rival_blocks"][:], f["rival_block_at"][:]
    counts, _, ranks, _, ties = pair_rivals(image_rows, caption_rows, graph.node_ptr, graph.node_images)
    per_pair = tie_counts(counts)
    assert per_pair.sum() > 100 and (per_pair != 1).all()  # a tie: the pair's node and at least one near rival
    first = np.cumsum(per_pair) - per_pair  # each pair's first tie value
    sizes = np.diff(graph.node_ptr)
    for v in np.flatnonzero(sizes):
        lo, hi = graph.node_ptr[v], graph.node_ptr[v + 1]
        stored = blocks[at[v] + block_head(sizes[v:v + 1], 2)[0] + 2 * sizes[v] * ranks[v]:][:4 * per_pair[lo:hi].sum()]
        np.testing.assert_array_equal(stored.view(np.float32), ties[first[lo]:first[lo] + per_pair[lo:hi].sum()])
    pair = int(np.flatnonzero(per_pair)[0])  # its first value: the cosine of its image and its node, computed alone
    node = int(np.searchsorted(graph.node_ptr, pair, side="right") - 1)
    assert ties[first[pair]] == canonical_cosines(image_rows[graph.node_images[pair]][None].astype(np.float32),
                                                  caption_rows[node][None].astype(np.float32))[0]


@pytest.mark.parametrize("older", ["no rivals", "layout 3"])
def test_an_older_label_is_converted_once_without_a_model(tmp_path, older):
    store, graph = Store(tmp_path / "registry"), small_graph()
    write_label(store, graph, "m", seed=3)
    path = store.label_path("m")
    keys = ("image_emb", "caption_emb", "top_nodes", "rival_blocks", "rival_block_at", "rival_ranks")
    with h5py.File(path, "a") as f:
        before = {k: f[k][:] for k in keys}
        for key in keys[3:]:  # as labels were before pair rivals, or with counts and tiles apart (layout 3)
            del f[key]
        del f.attrs["rival_layout"]
        if older == "layout 3":
            counts, rivals, ranks, _, _ = pair_rivals(before["image_emb"], before["caption_emb"], graph.node_ptr,
                                                   graph.node_images)
            f["pair_counts"], f["pair_rivals"], f["rival_ranks"] = counts, rivals, ranks
            f.attrs["rival_layout"] = 3
    assert not label_is_current(store, graph, "m")
    with pytest.raises(Exception, match="run `mllbench label`"):
        disk = GraphLabels(store, graph, embed=lambda texts: [])
        disk.in_memory_bytes = 0
        disk.decided_hits("m", np.flatnonzero(graph.n_images > 0)[:2])
    disk.close()
    seen = []
    status = label_model(store, graph, "m", load_model=lambda: pytest.fail("a model was loaded"),
                         open_image=lambda ref: pytest.fail("an image was opened"),
                         progress=lambda done, total: seen.append((done, total)))
    assert status == "updated" and label_is_current(store, graph, "m")
    assert seen[-1] == (len(graph.image_refs),) * 2  # the conversion's bar reaches its end
    with h5py.File(path, "r") as f:
        assert f.attrs["rival_layout"] == RIVAL_LAYOUT and "pair_counts" not in f and "pair_rivals" not in f
        for key, data in before.items():
            np.testing.assert_array_equal(f[key][:], data)
    assert label_model(store, graph, "m", lambda: pytest.fail("loaded"), lambda ref: None) == "cached"


@pytest.mark.slow
def test_the_tiny_hubs_real_labels_select_the_same_from_rivals(tiny_json, registry):
    bench = load_benchmark(get_host(), tiny_json)
    sessions = [Session(bench, Store(registry), embedder="hashing", batch_size=4) for _ in range(2)]
    sessions[0].ensure([m["id"] for m in bench.models], [])
    sessions[1].labels().in_memory_bytes = 0  # read as a hub-scale label is: from pair rivals
    graph = sessions[0].graph()
    eligible = np.flatnonzero(graph.n_images > 0)
    rng = np.random.default_rng(0)
    for size in (1, 3, len(eligible) // 2, len(eligible)):
        selected = np.sort(rng.choice(eligible, size, replace=False))
        for model in bench.models:
            pairs = sessions[0].labels().node_images(selected)
            np.testing.assert_array_equal(selected_node_hits(sessions[1].labels(), model["id"], selected, pairs),
                                          selected_node_hits(sessions[0].labels(), model["id"], selected, pairs))
    assert sessions[1].labels().decided_hits(bench.models[0]["id"], eligible)[0].any()
    for task in bench.resolve_tasks("all"):
        scores = [s.select("mll", task, {"nodes_per_class": 5, "alpha": 0.7}) for s in sessions]
        np.testing.assert_array_equal(scores[0], scores[1])
        np.testing.assert_array_equal(np.argsort(-scores[0], 0, kind="stable"),
                                      np.argsort(-scores[1], 0, kind="stable"))


def test_rows_read_straight_from_the_file_equal_h5pys(tmp_path):
    data = np.random.default_rng(0).standard_normal((3000, 7)).astype(np.float16)
    path = tmp_path / "rows.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("chunked", data=data, chunks=(256, 7))
        f["contiguous"] = data
        f.create_dataset("compressed", data=data, chunks=(256, 7), compression="gzip")
    rows = np.unique(np.random.default_rng(1).integers(0, 3000, 400))
    reader = RowFile(str(path))
    with h5py.File(path, "a") as f:
        for name in ("chunked", "contiguous"):
            for pick in (rows, np.arange(3000), np.array([0, 255, 256, 2999]), np.zeros(0, np.int64)):
                np.testing.assert_array_equal(reader.rows(f[name], pick), data[pick])
        assert reader.rows(f["compressed"], rows) is None  # not plain bytes: h5py reads it
        starts, lengths = np.array([0, 3, 10, 11, 2000]), np.array([2, 0, 1, 5, 3])
        for gap in (0, 5, 10**6):  # ranges read apart, some merged, all in one slice
            np.testing.assert_array_equal(read_ranges(f["chunked"], starts, lengths, gap),
                                          data[concat_ranges(starts, lengths)])
        picked = concat_ranges(starts, lengths)
        np.testing.assert_array_equal(reader.ranges(f["contiguous"], starts, lengths), data[picked])
        flat = f.create_dataset("flat", data=data.reshape(-1))  # 1-D, as pair rivals are
        f.flush()
        np.testing.assert_array_equal(reader.ranges(flat, starts * 7, lengths * 7),
                                      data.reshape(-1)[concat_ranges(starts * 7, lengths * 7)])
        assert reader.ranges(f["chunked"], starts, lengths) is None  # chunks: h5py reads it
        odd = f.create_dataset("odd", shape=data.shape, dtype=data.dtype, chunks=(256, 7))
        for k in range(12):  # 1,001 bytes after each chunk: its chunks out of step with its rows, a page apart
            odd[256 * k:256 * (k + 1)] = data[256 * k:256 * (k + 1)]
            f.create_dataset(f"gap{k}", data=np.full(1001, k, np.uint8))
            f.flush()
        starts = reader._layout(odd)[0]
        assert ((starts - starts[0]) % 14).any() and (np.diff(starts) - 3584 < 4096).all()
        for pick in (rows, np.arange(250, 270), np.arange(3000)):  # runs across chunk borders
            np.testing.assert_array_equal(reader.rows(odd, pick), data[pick])
    reader.close()


@pytest.mark.parametrize("on_disk", [False, True])
def test_an_unreadable_graph_image_is_left_out_of_eq5(tmp_path, on_disk):
    """Its zero row would tie with every node (a hit for the first selected node only); it counts in no X_v."""
    store, graph = Store(tmp_path / "registry"), small_graph()
    rng = np.random.default_rng(4)
    captions = rng.standard_normal((len(graph.wnids), 8))
    images = captions[np.repeat(np.arange(len(graph.wnids) // 2), 6)] + 0.3 * rng.standard_normal((240, 8))
    bad = 6  # the first image of node 1, which owns images 6..11
    with Store.locked(store.label_path("m").parent), LabelWriter(store, graph, "m", 64) as writer:
        writer.commit_captions(captions)
        for start in writer.pending():
            rows = [i for i in range(start, start + 64) if i < 240]
            broken = {bad - start: "truncated"} if bad in rows else None
            writer.commit(start, images[[i for i in rows if i != bad]], broken)
        writer.finish()
    labels = GraphLabels(store, graph, embed=lambda texts: [])
    labels.in_memory_bytes = 0 if on_disk else labels.in_memory_bytes
    selected = np.array([0, 1, 2])
    pairs = labels.node_images(selected)
    assert labels.readable("m", pairs[0]).tolist() == [i != bad for i in pairs[0]]
    correct, counts = selected_node_hits(labels, "m", selected, pairs)
    assert counts.tolist() == [6, 5, 6]  # node 1's unreadable image is not among its images
    norms = np.linalg.norm(images[:18], axis=1)[:, None] * np.linalg.norm(captions[:3], axis=1)
    own = images[:18] @ captions[:3].T / norms  # float64 cosines
    expected = [(np.argmax(own[6 * v:6 * v + 6], 1) == v)[[i for i in range(6) if 6 * v + i != bad]].sum() for v in range(3)]
    assert correct.tolist() == expected
    labels.close()


def read_bytes() -> int:
    """Bytes this process has read from storage (Linux's /proc/self/io)."""
    return int(dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())["read_bytes"])


def test_sector_runs_by_hand():
    # rows of 700 bytes at 0, 700 (shares sector 1 with row 0), 5000, 5632 (shares 5000's last sector)
    offsets, lengths, run = sector_runs(np.array([0, 700, 5000, 5632]), 700)
    assert offsets.tolist() == [0, 4608] and lengths.tolist() == [1536, 6656 - 4608] and run.tolist() == [0, 0, 1, 1]


def test_rows_read_around_the_page_cache_equal_h5pys(tmp_path):
    """Scattered rows read with O_DIRECT through kernel AIO: the same values as through the page cache and
    h5py, and fewer bytes from storage. Where this machine offers neither, the page cache reads them."""
    data = np.random.default_rng(2).standard_normal((20000, 768)).astype(np.float16)
    path = tmp_path / "direct.h5"
    flat = np.random.default_rng(4).integers(0, 255, 300000, dtype=np.uint8)
    with atomic_h5(path) as f:
        f["odd"] = np.zeros(1001, np.uint8)  # the rows' dataset starts on no sector
        f["rows"] = data
        f["flat"] = flat  # bytes, as pair rivals are
    rows = np.unique(np.random.default_rng(3).integers(0, 20000, 500))
    direct = DirectReads()
    reader = RowFile(str(path), direct)
    with h5py.File(path, "r") as f:
        os.posix_fadvise(reader.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        before = read_bytes()
        for pick in (rows, rows[:1], np.arange(100, 140), np.array([0, 19999])):
            np.testing.assert_array_equal(reader.rows(f["rows"], pick), data[pick])
        if direct.available and reader._direct_fd is not None:  # as on Linux x86_64 / aarch64 on ext4
            assert reader._aio is not None and read_bytes() - before < len(rows) * 4096 * 0.6
        spread = np.arange(0, 20000, 6)  # 3,334 reads: more than one batch of requests (directio.BATCH)
        np.testing.assert_array_equal(reader.rows(f["rows"], spread), data[spread])
        starts, lengths = np.array([0, 5, 600, 4096, 9000, 299990]), np.array([3, 700, 0, 5000, 1, 10])
        np.testing.assert_array_equal(reader.ranges(f["rows"], starts[:3] * 3, lengths[:3]),
                                      data[concat_ranges(starts[:3] * 3, lengths[:3])])
        buf, at = reader.pages(f["flat"], starts[:-1], lengths[:-1])  # the file's last page: not mapped
        for s, n, a in zip(starts[:-1], lengths[:-1], at):
            np.testing.assert_array_equal(buf[a:a + n], flat[s:s + n])
    reader.close()
    direct.close()
    assert not direct._made


def test_rows_fall_back_to_the_page_cache_when_a_direct_read_is_refused(tmp_path):
    data = np.arange(3000 * 8, dtype=np.float32).reshape(3000, 8)
    path = tmp_path / "refused.h5"
    with atomic_h5(path) as f:
        f["rows"] = data
    direct = DirectReads()
    reader = RowFile(str(path), direct)
    if reader._direct_fd is None:
        pytest.skip("no O_DIRECT on this file system")
    os.close(reader._direct_fd)
    reader._direct_fd = os.open(path, os.O_WRONLY)  # a descriptor that reads nothing: every read refused
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(reader.rows(f["rows"], np.array([3, 7, 2999])), data[[3, 7, 2999]])
    assert reader._aio is None  # the page cache reads this file from now on
    reader.close()
    direct.close()
