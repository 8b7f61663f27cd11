"""Semantic graph on real WordNet; HDF5 registry: atomic, versioned, resumable, growable."""
from dataclasses import dataclass, field

import h5py
import numpy as np
import pytest

from mllbench.semantic.graph import build_graph
from mllbench.registry.store import KeyedArrays, Store, load_graph, save_graph
from mllbench.core.types import MllbenchError, TaskInfo

DOG, CAT, CARNIVORE = "n02084071", "n02121808", "n02075296"


@dataclass
class LabelsOnly:
    """A sample dataset stand-in for graph building (which reads labels only)."""

    info: TaskInfo
    label_array: np.ndarray
    wnids: tuple
    metadata: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.label_array)

    def labels(self):
        return self.label_array


def sample(name="s", n_per_class=(3, 2), wnids=(DOG, CAT)):
    labels = np.repeat(np.arange(len(n_per_class)), n_per_class)
    return LabelsOnly(TaskInfo(name, tuple(wnids), "", ""), labels, tuple(wnids))


def test_graph_nodes_edges_and_inherited_images_on_real_wordnet():
    g = build_graph([sample()], images_per_node=75)
    assert DOG in g.wnids and CAT in g.wnids and CARNIVORE in g.wnids
    assert "n00001740" in g.wnids  # entity: ancestors reach the root
    i = {w: k for k, w in enumerate(g.wnids)}
    edges = {tuple(e) for e in g.edges.tolist()}
    assert (i["n02083346"], i[DOG]) in edges  # canine -> dog
    assert g.edges.tolist() == sorted(g.edges.tolist())
    dog_caption = g.captions[i[DOG]]
    assert dog_caption.startswith("dog which is a member of the genus Canis")
    assert len(g.images_of(i[DOG])) == 3 and len(g.images_of(i[CAT])) == 2
    assert len(g.images_of(i[CARNIVORE])) == 5  # inherits dog + cat images
    no_inherit = build_graph([sample()], inherit_images=False)
    assert len(no_inherit.images_of(no_inherit.wnids.index(CARNIVORE))) == 0
    flat = build_graph([sample()], ancestors=False)
    assert flat.wnids == (DOG, CAT) and len(flat.edges) == 0


def test_images_per_node_cap_is_seeded_and_stable_when_graph_grows():
    small = build_graph([sample(n_per_class=(10, 2))], images_per_node=4, seed=1)
    again = build_graph([sample(n_per_class=(10, 2))], images_per_node=4, seed=1)
    dog = small.wnids.index(DOG)
    assert len(small.images_of(dog)) == 4
    assert [small.image_refs[j] for j in small.images_of(dog)] == [again.image_refs[j] for j in again.images_of(dog)]
    other = build_graph([sample(n_per_class=(10, 2))], images_per_node=4, seed=2)
    assert small.hash != other.hash
    # a new sample dataset with other synsets leaves the dog node's images alone
    grown = build_graph([sample(n_per_class=(10, 2)), sample("t", (2,), ("n01503061",))], images_per_node=4, seed=1)
    gd = grown.wnids.index(DOG)
    assert [grown.image_refs[j] for j in grown.images_of(gd)] == [small.image_refs[j] for j in small.images_of(dog)]
    assert len(grown.wnids) > len(small.wnids)


def test_graph_roundtrip_through_hdf5_and_corruption_is_detected(tmp_path):
    store = Store(tmp_path)
    g = build_graph([sample()])
    save_graph(store, g)
    back = load_graph(store)
    assert back.hash == g.hash and back.captions == g.captions and back.image_refs == g.image_refs
    assert not list(tmp_path.glob(".*.tmp"))
    with h5py.File(store.graph_path, "a") as f:  # a graph written before the packed references: read as it was
        assert bytes(f["image_refs_packed"][:]).split(b"\0")[:-1] == [r.encode() for r in g.image_refs]
        del f["image_refs_packed"]
    assert load_graph(store).image_refs == g.image_refs
    with h5py.File(store.graph_path, "a") as f:
        f.attrs["hash"] = "0" * 16
    with pytest.raises(MllbenchError, match="corrupt"):
        load_graph(store)


def test_schema_mismatch_names_the_fix(tmp_path):
    store = Store(tmp_path)
    save_graph(store, build_graph([sample()]))
    with h5py.File(store.graph_path, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(MllbenchError, match="schema 99"):
        load_graph(store)


def test_keyed_cache_computes_only_missing_texts_and_persists(tmp_path):
    calls = []

    def compute(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts])

    cache = KeyedArrays(tmp_path / "c.h5", {"model_id": "m"})
    out = cache.get(["ab", "abc"], compute)
    assert out[:, 0].tolist() == [2, 3]
    again = KeyedArrays(tmp_path / "c.h5", {"model_id": "m"}).get(["abc", "x", "ab"], compute)
    assert again[:, 0].tolist() == [3, 1, 2]
    assert calls == [["ab"], ["abc"], ["x"]]  # only the missing ones, each alone (canonical batching)
    with pytest.raises(MllbenchError, match="model_id"):
        KeyedArrays(tmp_path / "c.h5", {"model_id": "other"})
