"""The semantic graph a session labels hub models on, and the labels' reader."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mllbench.core.types import MllbenchError
from mllbench.host.benchmark import short_hash
from mllbench.pipeline.label_view import GraphLabels
from mllbench.registry.store import load_graph, save_graph
from mllbench.semantic.graph import SemanticGraph, build_graph

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


class GraphAndLabels:
    """Owns the semantic graph (the registry's when it is current, else built from the sample
    datasets and saved: WordNet costs seconds) and the one reader of the hub's labels on it;
    opens the graph's images (``dataset:index`` refs) for labeling."""

    def __init__(self, session: "Session"):
        self._session = session
        self._graph: SemanticGraph | None = None
        self._labels: GraphLabels | None = None

    def graph(self) -> SemanticGraph:
        """The graph, built at most once per session and registry."""
        if self._graph is None:
            bench, store = self._session.bench, self._session.store
            stored = load_graph(store)
            if stored is not None and not all(bench.on_disk(s["name"]) for s in bench.samples):
                self._graph = stored  # a registry copied without the sample datasets: its graph stands
                return stored
            settings = {"images_per_node": 75, "seed": 0, **bench.graph}
            samples = [bench.dataset(s["name"]) for s in bench.samples]
            if not samples:
                raise MllbenchError(f"benchmark {bench.name!r} has no sample datasets to build a graph from")
            # the graph is a function of these; when they match the stored one, skip WordNet
            sources = short_hash([settings, [(d.info.name, d.metadata.get("version"), len(d), d.wnids)
                                             for d in samples]])
            if stored is not None and stored.sources == sources:
                self._graph = stored
            else:
                self._graph = replace(build_graph(samples, **settings), sources=sources)
                save_graph(store, self._graph)
        return self._graph

    def open_image(self, ref: str) -> Any:
        """A graph image by its ref, ``dataset[@version]:index``, from that version of the dataset only.

        The index is a position in the version the graph was built on; a Ray worker resolves refs
        on its own copy of the data, which may be another version (changed files, another mount):
        then the same index is another image, and a label would store it under this ref."""
        name, _, index = ref.rpartition(":")
        dataset, _, version = name.partition("@")
        ds = self._session.bench.dataset(dataset)
        here = str(ds.metadata.get("version", ""))
        if version and here != version:
            raise MllbenchError(f"graph image {ref} is of {dataset} version {version}, but the copy here is version "
                                f"{here or '(none)'}: give every worker the data the graph was built on, "
                                "or rerun so the graph is rebuilt on the data as it is now")
        return ds.image(int(index))

    def labels(self) -> GraphLabels:
        """One label reader per session: each label file opens once, not once per task."""
        if self._labels is None:
            self._labels = GraphLabels(self._session.store, self.graph(), self._session.embed)
        return self._labels
