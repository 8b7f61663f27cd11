"""``mllbench run --dry-run``: what a run would need to fetch, found without loading or downloading.

Models and datasets answer through the ``locate(args_or_entry, base_dir)``
attached to their provider / source factory (see ``ArtifactStatus``); a
factory without one is reported as "unknown". A model whose label and
predictions for every task of the run are already in the registry needs no
weights for labeling and reuse. The semantic graph's node count comes from
WordNet and the sample datasets' class ids alone (``build_graph`` on
image-less stand-ins).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mllbench.host.benchmark import Benchmark
from mllbench.semantic.graph import SemanticGraph, build_graph
from mllbench.registry.store import Store, load_graph
from mllbench.core.types import ArtifactStatus, MllbenchError, TaskInfo


@dataclass
class Line:
    """One model or dataset: status is cached, fetch, registry (nothing to fetch) or unknown."""

    name: str
    role: str
    status: str
    size_gb: float | None
    detail: str


@dataclass
class ClassesOnly:
    """A sample dataset with its classes' WordNet ids and no images, for counting graph nodes."""

    info: TaskInfo
    wnids: tuple[str, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return 0

    def labels(self) -> np.ndarray:
        return np.zeros(0, np.int64)


def graph_nodes(bench: Benchmark) -> tuple[int, int]:
    """(graph nodes, WordNet ids of the sample datasets) of this benchmark's construction, from the
    definition's ``wnids`` alone; raises MllbenchError when a sample dataset's entry lacks them."""
    samples = []
    for entry in bench.samples:
        wnids = entry.get("wnids") or [c.get("wnid", "") for c in entry.get("classes", [])]
        if not any(wnids):
            raise MllbenchError(f"sample dataset {entry['name']!r} lists no wnids in the definition")
        samples.append(ClassesOnly(TaskInfo(entry["name"], (), "", ""), tuple(wnids)))
    graph = build_graph(samples, **{k: bench.graph[k] for k in ("ancestors",) if k in bench.graph})
    return len(graph.wnids), len({w for s in samples for w in s.wnids if w})


def in_registry(store: Store, graph: SemanticGraph | None, model_id: str, tasks: Sequence[str]) -> bool:
    """Whether the registry holds the model's label for the stored graph and its predictions on
    ``tasks``; the files' task versions are checked when the run reads them."""
    from mllbench.pipeline.labeling import label_is_current

    return (graph is not None and label_is_current(store, graph, model_id)
            and all(store.prediction_path(t, model_id).exists() for t in tasks))


def _locate(factory: Callable, spec: dict, bench: Benchmark) -> ArtifactStatus | str:
    """The factory's answer, or why there is none."""
    locate = getattr(factory, "locate", None)
    if locate is None:
        return "its provider/source cannot tell (no locate)"
    try:
        return locate(spec, bench.base_dir)
    except MllbenchError as exc:
        return str(exc)


def _line(name: str, role: str, status: ArtifactStatus | str, estimate: float | None) -> Line:
    if isinstance(status, str):
        return Line(name, role, "unknown", estimate, status)
    size = status.size_gb if status.size_gb is not None else estimate
    if status.cached:
        return Line(name, role, "cached", size, status.where)
    fetch = status.fetch or "fetch it"
    return Line(name, role, "fetch", size, fetch if status.where in fetch else f"{fetch} -> {status.where}")


def plan(bench: Benchmark, store: Store, tasks: Sequence[str]) -> list[Line]:
    """A line per hub model and per dataset the run reads (its target tasks and the sample datasets)."""
    stored = load_graph(store)
    needed = [*tasks, *(s["name"] for s in bench.samples)]
    lines = []
    for m in bench.models:
        if in_registry(store, stored, m["id"], tasks):
            lines.append(Line(m["id"], "model", "registry", 0.0, "label and target predictions stored: no weights "
                              "needed (a selector reading sample-dataset accuracies may still run it)"))
            continue
        factory = bench.host.get("model provider", m.get("provider", "open_clip"))
        lines.append(_line(m["id"], "model", _locate(factory, m.get("args", {}), bench),
                           m.get("metadata", {}).get("download_gb")))
    for name in needed:
        entry = bench.task_entry(name)
        role = "target" if any(t["name"] == name for t in bench.targets) else "sample"
        factory = bench.host.get("dataset source", entry["source"])
        lines.append(_line(name, role, _locate(factory, entry, bench), entry.get("size_gb")))
    return lines


def _gb(size: float | None) -> str:
    return "?" if size is None else f"{size:.2f}"


def report(bench: Benchmark, store: Store, tasks: Sequence[str], captioner: str, embedder: str) -> str:
    """The dry-run text: a table per kind, the graph size, caption services, totals."""
    nothing = bench.no_images()
    if nothing:
        return nothing
    lines = plan(bench, store, tasks)
    out = [f"dry run of benchmark {bench.name!r} ({len(tasks)} target tasks): nothing is downloaded or loaded; "
           "sizes are approximate", f"registry: {store.root}"]
    width = max(len(x.name) for x in lines)
    for kind, roles in (("models", ("model",)), ("datasets", ("target", "sample"))):
        group = [x for x in lines if x.role in roles]
        out += ["", f"{kind} ({len(group)})",
                f"  {'status':8} {'GB':>7}  {'role':6}  {'name':{width}}  where / how to fetch"]
        out += [f"  {x.status:8} {_gb(x.size_gb):>7}  {x.role:6}  {x.name:{width}}  {x.detail}" for x in group]
    out.append("")
    if bench.samples:
        try:
            nodes, classes = graph_nodes(bench)
            ipn = bench.graph.get("images_per_node", 75)
            out.append(f"graph: {nodes:,} WordNet nodes ({classes:,} sample-dataset classes and their hypernyms), "
                       f"up to {ipn} images each")
        except MllbenchError as exc:
            out.append(f"graph: node count unknown ({exc})")
    key = "set" if os.environ.get("OPENAI_API_KEY") else "not set"
    out.append(f"captions: {captioner}; caption embeddings: {embedder}; OPENAI_API_KEY {key} "
               "(API captioners and embedders need it for texts their caches lack)")
    for status in ("fetch", "cached", "registry", "unknown"):
        for kind, roles in (("models", ("model",)), ("datasets", ("target", "sample"))):
            group = [x for x in lines if x.status == status and x.role in roles]
            if group:
                known = [x.size_gb for x in group if x.size_gb is not None]
                size = f"{sum(known):8.2f} GB" if known else "size unknown"
                unknown = "" if len(known) in (0, len(group)) else f", {len(group) - len(known)} of unknown size"
                out.append(f"total {status:8} {kind:8} {len(group):3}  {size}{unknown}")
    return "\n".join(out)
