"""Eq. 5 from stored top nodes: the array maths by hand, and the top-K path against the dense one on real labels."""
import h5py
import numpy as np
import pytest

from mllbench.semantic.graph import SemanticGraph
from mllbench.pipeline.labeling import GraphLabels, LabelWriter, label_is_current, label_model
from mllbench.maths.mll import TOP_NODES, cosine, top_k, top_node_hits, top_nodes
from mllbench.registry.store import Store

DIM = 32


def test_top_node_hits_by_hand():
    top = np.array([[3, 1],   # node 3 not selected, then 1 = its node: hit
                    [2, 0],   # 2 is selected and before its node 0: miss
                    [4, 2],   # its node 2 first among the selected: hit
                    [1, 3],   # its node 0 beyond K, selected 1 inside: miss
                    [3, 4]])  # nothing selected among its top: undecided
    image_node = np.array([1, 0, 2, 0, 2])
    in_selected = np.array([True, True, True, False, False])
    decided, hit = top_node_hits(top, image_node, in_selected)
    assert decided.tolist() == [True, True, True, True, False]
    assert hit.tolist() == [True, False, True, False, False]


def test_top_nodes_order_ties_by_node_index_as_argmax_does():
    e = np.eye(3, dtype=np.float32)
    captions = np.stack([e[1], e[0], e[0], -e[0], e[0] + e[1], e[0]])
    images = np.stack([e[0], e[1], e[2]])
    top = top_nodes(images, captions, k=2)
    assert top[0].tolist() == [1, 2]  # sims 1 at nodes 1, 2, 5: the two lowest indices
    assert top[1].tolist() == [0, 4]  # 1 at node 0, 0.707 at node 4
    assert top[2].tolist() == [0, 1]  # all 0 but node 3's -0: lowest indices
    rng = np.random.default_rng(0)
    images, captions = rng.standard_normal((500, 8)), rng.standard_normal((40, 8))
    blocks = top_nodes(images, captions, k=3, max_bytes=4 * 40 * 7)  # 7 images a block
    assert blocks[:, 0].tolist() == np.argmax(cosine(images, captions), axis=1).tolist()
    np.testing.assert_array_equal(blocks, top_nodes(images, captions, k=3))
    assert top_nodes(images, captions[:2]).shape == (500, 2)  # K beyond the nodes: all of them


def test_top_k_is_the_head_of_a_stable_argsort():
    rng = np.random.default_rng(1)
    sim = rng.integers(0, 4, (200, 30)).astype(np.float32)  # many ties, across the k-th value too
    sim[:, ::7] = -np.inf  # as ineligible nodes are
    for k in (1, 3, 10, 25):
        np.testing.assert_array_equal(top_k(sim, k), np.argsort(-sim, axis=1, kind="stable")[:, :k])
    assert top_k(sim, 0).shape == (200, 0)


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def small_graph(n_nodes: int = 80, per_node: int = 6, seed: int = 0) -> SemanticGraph:
    """Half the nodes own their images, the other half share images drawn from them; a few have none."""
    rng = np.random.default_rng(seed)
    n_own = n_nodes // 2
    n_images = n_own * per_node
    chosen = [np.arange(k * per_node, (k + 1) * per_node) for k in range(n_own)]
    chosen += [np.sort(rng.choice(n_images, 0 if k % 10 == 0 else per_node, replace=False))
               for k in range(n_nodes - n_own)]
    return SemanticGraph(tuple(f"n{k:08d}" for k in range(n_nodes)), tuple(f"node {k}" for k in range(n_nodes)),
                         tuple(f"node {k} which is synthetic" for k in range(n_nodes)), np.zeros((0, 2), np.int64),
                         np.cumsum([0] + [len(c) for c in chosen]).astype(np.int64),
                         np.concatenate(chosen).astype(np.int64),
                         tuple(f"synthetic:{i:06d}" for i in range(n_images)), "test-top-nodes")


def write_label(store: Store, graph: SemanticGraph, model_id: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with Store.locked(store.label_path(model_id).parent), LabelWriter(store, graph, model_id, 64) as writer:
        writer.commit_captions(unit_rows(rng, len(writer.caption_texts())))
        for start in writer.pending():
            writer.commit(start, unit_rows(rng, len(writer.refs(start))))
        writer.finish()


def test_stored_top_nodes_give_the_dense_hits_on_a_real_label(tmp_path):
    """The label's top nodes (LabelView.top_nodes, for selectors that read them) decide as the dense argmax."""
    store, graph = Store(tmp_path / "registry"), small_graph()
    write_label(store, graph, "m", seed=1)
    labels = GraphLabels(store, graph, embed=lambda texts: pytest.fail("no text is embedded"))
    eligible = np.flatnonzero(graph.n_images > 0)
    rng = np.random.default_rng(2)
    undecided = []
    for size in (2, 5, 20, 60, len(eligible)):
        for _ in range(3):
            selected = np.sort(rng.choice(eligible, size, replace=False))
            sim, image_node = labels.similarities("m", selected)
            images, _ = labels.node_images(selected)
            in_selected = np.isin(np.arange(len(graph.wnids)), selected)
            decided, hit = top_node_hits(labels.top_nodes("m", images), selected[image_node], in_selected)
            np.testing.assert_array_equal(hit[decided], (np.argmax(sim, 1) == image_node)[decided])
            undecided.append(int((~decided).sum()))
    assert undecided[0] > 0 and undecided[-1] == 0  # small selections fall back, the whole graph never does
    labels.close()


def test_a_label_without_top_nodes_is_upgraded_without_a_model(tmp_path):
    store, graph = Store(tmp_path / "registry"), small_graph()
    write_label(store, graph, "m", seed=3)
    path = store.label_path("m")
    with h5py.File(path, "r") as f:
        before = {k: f[k][:] for k in ("image_emb", "caption_emb", "top_nodes")}
    assert before["top_nodes"].dtype == np.uint16 and before["top_nodes"].shape == (len(graph.image_refs), TOP_NODES)
    for old in (None, before["top_nodes"][:, :3]):  # written before top nodes; with another K
        with h5py.File(path, "a") as f:
            del f["top_nodes"]
            if old is not None:
                f["top_nodes"] = old
        assert not label_is_current(store, graph, "m")
        status = label_model(store, graph, "m", load_model=lambda: pytest.fail("a model was loaded"),
                             open_image=lambda ref: pytest.fail("an image was opened"))
        assert status == "updated" and label_is_current(store, graph, "m")
        with h5py.File(path, "r") as f:
            for key, data in before.items():
                np.testing.assert_array_equal(f[key][:], data)
