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

import h5py
import numpy as np

from mllbench.host.benchmark import Benchmark
from mllbench.host.subsets import SUBSET_MARK, subset_name
from mllbench.pipeline.cost import ModelWork, Throughput, cost_rows, image_gflops, label_bytes, model_metadata
from mllbench.pipeline.labeling import label_is_current
from mllbench.semantic.graph import SemanticGraph, build_graph
from mllbench.registry.store import Store, load_graph, open_checked
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
    """A sample dataset with its classes' WordNet ids and ``per_class`` stand-in images of each
    class (none: for counting graph nodes), no image read."""

    info: TaskInfo
    wnids: tuple[str, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    per_class: int = 0

    def __len__(self) -> int:
        return self.per_class * len(self.wnids)

    def labels(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.wnids)), self.per_class)


def definition_graph(bench: Benchmark, images: bool = False) -> tuple[SemanticGraph, int] | None:
    """(the graph the definition's sample datasets give, their WordNet ids) from the definition alone;
    with ``images``, each class with its dataset's mean images per class (``n_test`` / classes), or
    None when an entry lacks ``n_test``. Raises MllbenchError when a sample entry lacks ``wnids``."""
    samples = []
    for entry in bench.samples:
        wnids = entry.get("wnids") or [c.get("wnid", "") for c in entry.get("classes", [])]
        if not any(wnids):
            raise MllbenchError(f"sample dataset {entry['name']!r} lists no wnids in the definition")
        if images and not entry.get("n_test"):
            return None
        per_class = round(entry["n_test"] / len(wnids)) if images else 0
        samples.append(ClassesOnly(TaskInfo(entry["name"], (), "", ""), tuple(wnids), per_class=per_class))
    keys = ("ancestors", "images_per_node", "seed") if images else ("ancestors",)
    graph = build_graph(samples, **{k: bench.graph[k] for k in keys if k in bench.graph})
    return graph, len({w for s in samples for w in s.wnids if w})


def graph_nodes(bench: Benchmark) -> tuple[int, int]:
    """(graph nodes, WordNet ids of the sample datasets) of this benchmark's construction, from the
    definition's ``wnids`` alone; raises MllbenchError when a sample dataset's entry lacks them."""
    graph, classes = definition_graph(bench)
    return len(graph.wnids), classes


def in_registry(store: Store, graph: SemanticGraph | None, model_id: str, tasks: Sequence[str]) -> bool:
    """Whether the registry holds the model's label for the stored graph and its predictions on
    ``tasks``; the files' task versions are checked when the run reads them."""
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


class RunWork:
    """The images a run would encode with each hub model, counted from the definition and the
    registry alone: the graph's images its label lacks (the registry's graph, else one built from
    the definition's ``n_test``: an estimate), the test images of target tasks it has not predicted,
    and, for a selector that reads sample-dataset accuracies (``reads_sample_accuracy``), the
    sample datasets' images (or their class subsets') it has not predicted. A task's image count
    is a stored prediction's (any model's), else the definition's ``n_test``, else unknown.
    Label rows are taken as reusable whatever made them (fingerprints need the models' files)."""

    def __init__(self, bench: Benchmark, store: Store, max_sample_classes: int | None = 100):
        self.bench, self.store, self.most = bench, store, max_sample_classes
        self._sizes: dict[str, int | None] = {}
        self.graph = load_graph(store)
        self.stored = self.graph is not None  # else the definition's estimate, which no label was made on
        if not self.stored:
            self.graph, self.graph_note = self._estimate()
        else:
            self.graph_note = "the registry's graph"

    def _estimate(self) -> tuple[SemanticGraph | None, str]:
        try:
            built = definition_graph(self.bench, images=True) if self.bench.samples else None
        except MllbenchError as exc:
            return None, f"no graph: {exc}"
        if built is None:
            return None, "no graph in the registry and a sample dataset without n_test: graph images unknown"
        return built[0], "no graph in the registry yet: estimated from the sample datasets' n_test per class"

    def images(self, name: str) -> int | None:
        """Test images of a task, a sample dataset or a sample dataset's class subset."""
        if name not in self._sizes:
            self._sizes[name] = self._stored_size(name)
            if self._sizes[name] is None:
                self._sizes[name] = self._defined_size(name)
        return self._sizes[name]

    def _stored_size(self, name: str) -> int | None:
        folder = self.store.prediction_path(name, "any").parent
        for path in sorted(folder.glob("*.h5")) if folder.is_dir() else ():
            with open_checked(path, "prediction cache") as f:
                return int(f["labels"].shape[0] + f.get("unreadable", np.zeros(0)).shape[0])
        return None

    def _classes(self, name: str) -> int | None:
        """A dataset's classes as its entry lists them (asking the dataset would open it)."""
        entry = self.bench.task_entry(name)
        return len(entry.get("classnames") or entry.get("classes") or ()) or None

    def _defined_size(self, name: str) -> int | None:
        base, mark, most = name.partition(SUBSET_MARK)
        n_test, classes = self.bench.task_entry(base).get("n_test"), self._classes(base)
        if n_test is None or not mark:
            return n_test
        return None if classes is None else round(n_test * int(most) / classes)

    def _predicted(self, name: str, model_id: str) -> bool:
        return self.store.prediction_path(name, model_id).exists()

    def sample_source(self, name: str, model_id: str) -> str:
        """Where the model's sample accuracy would be read (``Predictions.sample_source``, on file names)."""
        classes = self._classes(name)
        if self.most is None or classes is None or classes <= self.most or self._predicted(name, model_id):
            return name
        return subset_name(name, self.most)

    def graph_images(self, model_id: str) -> int | None:
        """The graph's images the model's label lacks (its partial file's done ones aside)."""
        graph = self.graph
        if graph is None:
            return None
        if not self.stored:
            return len(graph.image_refs)
        if label_is_current(self.store, graph, model_id):
            return 0
        have: set[str] = set()
        if self.store.label_path(model_id).exists():
            with open_checked(self.store.label_path(model_id), f"label of {model_id}") as f:
                have = {r.decode() if isinstance(r, bytes) else r for r in f["image_refs"][:]}
        todo = sum(r not in have for r in graph.image_refs)
        partial = self.store.label_path(model_id, partial=True)
        try:
            with h5py.File(partial, "r") as f:
                if f.attrs.get("graph_hash") == graph.hash and len(f["done"]) == todo:
                    todo -= int(f["done"][:].sum())
        except (OSError, KeyError):  # none, being written (locked) or cut short: all of them to do
            pass
        return todo

    def unpredicted(self, names: Sequence[str], model_id: str) -> int | None:
        sizes = [self.images(n) for n in names if not self._predicted(n, model_id)]
        return None if None in sizes else sum(sizes)

    def label_gb(self, model_id: str, dim: float | None) -> float | None:
        """The model's label size once made: its metadata's ``embed_dim``, else its stored label's."""
        path, graph = self.store.label_path(model_id), self.graph
        if dim is None and path.exists():
            with open_checked(path, f"label of {model_id}") as f:
                dim = f["image_emb"].shape[1]
        if dim is None or graph is None:
            return None
        return label_bytes(len(graph.image_refs), len(graph.wnids), len(graph.node_images), int(dim)) / 1e9

    def models(self, tasks: Sequence[str], samples: bool) -> list[ModelWork]:
        """A row per hub model; ``samples``: the selector reads sample-dataset accuracies."""
        gflops, dims = image_gflops(self.bench.models), model_metadata(self.bench.models, "embed_dim")
        rows = []
        for m in self.bench.model_ids:
            sources = [self.sample_source(s["name"], m) for s in self.bench.samples] if samples else []
            rows.append(ModelWork(m, self.graph_images(m), self.unpredicted(tasks, m), self.unpredicted(sources, m),
                                  gflops.get(m), self.label_gb(m, dims.get(m))))
        return rows


def cost_report(bench: Benchmark, store: Store, tasks: Sequence[str], method: str, throughput: str | None,
                max_sample_classes: int | None = 100) -> tuple[str, list[str], list[list[str]], list[str]]:
    """The dry run's cost table: (title, header, rows with a total row, notes saying what it assumes)."""
    samples = bool(getattr(bench.host.selector(method), "reads_sample_accuracy", False))
    work = RunWork(bench, store, max_sample_classes)
    rate = Throughput.parse(throughput, image_gflops(bench.models))
    head, rows = cost_rows(work.models(tasks, samples), rate)
    graph = work.graph
    shape = f": {len(graph.wnids):,} nodes, {len(graph.image_refs):,} images" if graph is not None else ""
    notes = [f"throughput assumed: {rate.tflops:.1f} TFLOP/s effective on one {rate.device}, from {rate.source} "
             "(GFLOPs per image: the definition's image_gflops, else gflops, else flops_b; "
             "--assume-throughput TFLOPS|throughput.json changes it)",
             "not counted: decoding and preprocessing on the CPU (docs/performance.md, paper-scale rehearsal), "
             "the text towers (class names, node captions) and loading the weights",
             f"graph: {work.graph_note}{shape}",
             "label GB: float16 embeddings of the graph's images and node captions (embed_dim) and their "
             "pairs' rivals; sample images: " + (f"{method} reads sample-dataset accuracies" if samples
                                                 else f"{method} reads no sample-dataset accuracies")]
    title = (f"cost of `run -m {method}` on {bench.name!r} ({len(tasks)} target tasks): the images each model "
             "would encode (graph, target and sample-dataset images), its time and its label's size")
    return title, head, rows, notes
