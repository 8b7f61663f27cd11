"""The semantic graph G (Sec. 4.1): WordNet noun synsets, hypernym links, images.

Construction (each choice is a parameter of :func:`build_graph`):
- nodes: every synset that labels a class of a sample dataset, plus (with
  ``ancestors=True``) its whole hypernym / instance-hypernym closure, so
  the graph is linked up to ``entity``;
- edges: hypernym -> hyponym between nodes, sorted (nltk's order depends on
  PYTHONHASHSEED);
- images X_v: up to ``images_per_node`` drawn without replacement from the
  sample-dataset images labelled v, or (``inherit_images=True``) v or any of
  its hyponyms, so inner nodes such as "dog" are represented too. Each node's
  draw uses its own seed (``seed`` + its wnid), so adding nodes or images
  elsewhere never changes a node's images: labels grow, they are not redone;
- captions: ``caption_format`` filled with the synset's first lemma and its
  definition, "{name} which is {definition}" as in the paper.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from mllbench.semantic import wordnet as wn
from mllbench.core.types import ImageDataset, MllbenchError

CAPTION_FORMAT = "{name} which is {definition}"


@dataclass(frozen=True)
class SemanticGraph:
    """G of MLL: WordNet nodes (the sample datasets' classes and their hypernyms), each with a
    caption and the sample images of its subtree; models are labelled on it (Eqs. 2-5). Its
    ``hash`` names what a label and a result were made on, so a label of another graph is
    never read as current."""

    wnids: tuple[str, ...]
    names: tuple[str, ...]
    captions: tuple[str, ...]
    edges: np.ndarray  # (E, 2) node indices, hypernym -> hyponym
    node_ptr: np.ndarray  # (V+1,) CSR pointers into node_images
    node_images: np.ndarray  # image indices, per node
    image_refs: tuple[str, ...]  # "<sample dataset>[@version]:<index>" per image
    settings: str  # the construction parameters, for the hash
    sources: str = ""  # fingerprint of the inputs it was built from (not part of the hash)

    @property
    def n_images(self) -> np.ndarray:
        """Images per node."""
        return np.diff(self.node_ptr)

    def images_of(self, node: int) -> np.ndarray:
        """A node's image indices (into ``image_refs``)."""
        return self.node_images[self.node_ptr[node]:self.node_ptr[node + 1]]

    @cached_property  # hashed once: a run asks for it per task and model
    def node_hash(self) -> str:
        return _sha(self.wnids, self.captions)

    @cached_property
    def image_hash(self) -> str:
        return _sha(self.image_refs, [self.node_ptr.tobytes().hex(), self.node_images.tobytes().hex()])

    @cached_property
    def hash(self) -> str:
        return _sha([self.node_hash, self.image_hash, self.settings])


def _sha(*parts: Sequence[str]) -> str:
    """Each item's UTF-8 bytes and a NUL, a part's end a 0x01: one join per part (a graph of
    341,854 images is checked on every load: 0.3 s item by item, ~0.03 s joined; same bytes)."""
    h = hashlib.sha256()
    for part in parts:
        if len(part):
            h.update(("\0".join(part) + "\0").encode("utf-8"))
        h.update(b"\1")
    return h.hexdigest()[:16]


def _node_seed(seed: int, wnid: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{wnid}".encode()).digest()[:8], "little")


def build_graph(samples: Sequence[ImageDataset], images_per_node: int = 75, seed: int = 0,
                ancestors: bool = True, inherit_images: bool = True,
                caption_format: str = CAPTION_FORMAT) -> SemanticGraph:
    """Build G from sample datasets whose classes carry WordNet ids."""
    own: dict[str, list[str]] = {}
    for ds in samples:
        if not ds.wnids:
            raise MllbenchError(f"sample dataset {ds.info.name!r} has no WordNet ids for its classes")
        labels = ds.labels()
        version = ds.metadata.get("version", "")
        prefix = f"{ds.info.name}@{version}" if version else ds.info.name  # new content, new refs
        for c, wnid in enumerate(ds.wnids):
            if wnid:
                own.setdefault(wnid, []).extend(f"{prefix}:{i}" for i in np.flatnonzero(labels == c))
    return graph_of(own, images_per_node, seed, ancestors, inherit_images, caption_format)


def graph_of(own: dict[str, list[str]], images_per_node: int = 75, seed: int = 0, ancestors: bool = True,
             inherit_images: bool = True, caption_format: str = CAPTION_FORMAT) -> SemanticGraph:
    """G from each synset's own image references (:func:`build_graph`'s inputs, as synthetic hubs give them)."""
    wordnet = wn.wordnet()
    synsets = set(own)
    parents: dict[str, set[str]] = {}
    frontier = sorted(synsets)
    while frontier:
        w = frontier.pop()
        parents[w] = set(wordnet.hypernyms(w)) if ancestors else set()
        new = parents[w] - synsets
        synsets |= new
        frontier.extend(sorted(new))
    wnids = tuple(sorted(synsets))
    index = {w: i for i, w in enumerate(wnids)}
    edges = np.array(sorted((index[p], index[c]) for c, ps in parents.items() for p in ps if p in index),
                     dtype=np.int64).reshape(-1, 2)
    chosen = _draw(wnids, own, parents if inherit_images else {}, images_per_node, seed)
    refs = tuple(sorted({r for pool in chosen for r in pool}))
    ref_index = {r: i for i, r in enumerate(refs)}
    node_ptr = np.cumsum([0] + [len(p) for p in chosen]).astype(np.int64)
    node_images = np.array([ref_index[r] for pool in chosen for r in pool], dtype=np.int64)
    names = tuple(wordnet.name(w) for w in wnids)
    captions = tuple(caption_format.format(name=n, definition=wordnet.definition(w))
                     for n, w in zip(names, wnids))
    settings = f"ipn={images_per_node};seed={seed};anc={ancestors};inh={inherit_images}"
    return SemanticGraph(wnids, names, captions, edges, node_ptr, node_images, refs, settings)


def _draw(wnids: Sequence[str], own: dict[str, list[str]], parents: dict[str, set[str]],
          images_per_node: int, seed: int) -> list[list[str]]:
    """X_v per node: up to ``images_per_node`` of its own images and (through ``parents``) its hyponyms'."""
    pools = {w: list(own.get(w, [])) for w in wnids}
    children: dict[str, list[str]] = {}
    for c, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(c)
    for w in wnids:
        seen, stack = {w}, list(children.get(w, []))
        while stack:
            c = stack.pop()
            if c not in seen:
                seen.add(c)
                pools[w].extend(own.get(c, []))
                stack.extend(children.get(c, []))
    chosen: list[list[str]] = []
    for w in wnids:
        pool = sorted(set(pools[w]))
        if len(pool) > images_per_node:
            pick = np.random.default_rng(_node_seed(seed, w)).choice(len(pool), images_per_node, replace=False)
            pool = [pool[i] for i in sorted(pick)]
        chosen.append(pool)
    return chosen
