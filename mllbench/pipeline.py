"""The pipeline: graph -> labels -> predictions -> selection -> reuse -> results.

``Session`` owns one benchmark + registry and hands selectors their context.
Models run only when something they would produce is missing from the
registry, one model loaded at a time, so a rerun (or scoring a new selector)
costs seconds. On a table-only benchmark (``Benchmark.table``, see
``mllbench/lovm.py``) nothing runs: sample datasets are the other tasks,
accuracies come from the table, and the selector's top model is scored
from it instead of being reused on images.
"""
from __future__ import annotations

import gc
import hashlib
import json
import platform
import re
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mllbench import __version__
from mllbench.benchmark import Benchmark
from mllbench.evaluate import cached_predictions, per_class_accuracy, task_hash
from mllbench.executors import Executor, LocalExecutor
from mllbench.graph import SemanticGraph, build_graph
from mllbench.labeling import GraphLabels
from mllbench.params import check_params
from mllbench.ranking import top
from mllbench.registry.store import Store, atomic_file, load_graph, save_graph
from mllbench.reuse import DEFAULT_WEIGHTING, WEIGHTINGS, reuse_ensemble
from mllbench.types import MllbenchError, SelectionContext, TaskInfo, VisionLanguageModel

RESULT_SCHEMA = 2  # 2: per-task "predictions" and "labels" per test image (leaderboard intervals)
Reporter = Callable[[str, int], Callable[..., None]]  # (description, total) -> update(done, total, info=...)


def quiet_reporter(description: str, total: int) -> Callable[..., None]:
    return lambda done, total, **fields: None


@dataclass
class Session:
    bench: Benchmark
    store: Store
    captioner: str = "template"
    embedder: str = "minilm"
    batch_size: int = 64
    device: str | None = None
    precision: str | None = None  # the model provider's: fp32, amp, fp16
    max_sample_classes: int | None = 100
    report: Reporter = quiet_reporter
    executor: Executor = field(default_factory=LocalExecutor)  # where models run (mllbench/executors.py)
    _model: tuple[str, VisionLanguageModel] | None = None
    _graph: SemanticGraph | None = None
    _services: dict[str, Any] = field(default_factory=dict)
    _captions: dict[tuple, list] = field(default_factory=dict)
    _sample_accuracy: dict[tuple[str, str], float] = field(default_factory=dict)
    _predictions: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _memo: dict = field(default_factory=dict)  # SelectionContext.memo: selectors' work shared across tasks

    # --- services ----------------------------------------------------------
    def model(self, model_id: str) -> VisionLanguageModel:
        """Load a model, freeing the previous one (one in memory at a time)."""
        if self._model and self._model[0] == model_id:
            return self._model[1]
        self.release_model()
        options = {"device": self.device, "precision": self.precision, "batch_size": self.batch_size}
        self._model = (model_id, self.bench.load_model(model_id, **{k: v for k, v in options.items() if v}))
        return self._model[1]

    def release_model(self) -> None:
        if self._model is not None:
            self._model = None
            gc.collect()
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _service(self, kind: str, spec: str) -> Any:
        """A captioner or embedder by name; ``name:model`` passes ``{"model": model}`` to its factory."""
        key = f"{kind}:{spec}"
        if key not in self._services:
            name, _, model = spec.partition(":")
            factory = self.bench.host.get(kind, name)
            try:
                self._services[key] = factory({"model": model} if model else {})
            except TypeError as exc:
                if not model:
                    raise
                raise MllbenchError(f"{kind} {name!r} has no model option; use --{kind} {name}") from exc
        return self._services[key]

    def _keyed(self, key: str, open_cache: Callable[[], Any]) -> Any:
        """One reader per cache file and session, not one per call."""
        if key not in self._services:
            self._services[key] = open_cache()
        return self._services[key]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Caption embeddings through the on-disk cache (no model needed on a hit), computed
        canonically (``registry.store.canonical_compute``): a vector is a function of its text."""
        cache = self._keyed(f"embeddings:{self.embedder}", lambda: self.store.embedding_cache(self.embedder))
        return cache.get(list(texts), _TextEncoder(lambda: self._service("embedder", self.embedder)),
                         self._progress(f"embed texts ({self.embedder})"))

    def captions(self, task: TaskInfo, classname: str) -> list:
        """A class's captions, from the registry's caption cache when it has them.

        Missing ones are asked for a whole task at a time: a captioner with
        ``caption_many(requests)`` gets all the task's uncaptioned classes at
        once, so that e.g. ``--offline`` names every missing one.
        """
        key = (classname, task.domain, task.task_type)
        if key not in self._captions:
            name = self.captioner.partition(":")[0]
            plugin = self.bench.host.origins.get(("captioner", name), "?")
            version = next((p.version for p in self.bench.host.plugins if p.name == plugin), "?")
            cache = self._keyed(f"captions:{self.captioner}", lambda: self.store.caption_cache(self.captioner, version))
            wanted = list(dict.fromkeys([key, *((c, task.domain, task.task_type) for c in task.classnames)]))
            self._captions.update(zip(wanted, cache.get(wanted, self._caption_missing)))
        return self._captions[key]

    def _caption_missing(self, requests: list[tuple[str, str, str]]) -> list[list[str]]:
        captioner = self._service("captioner", self.captioner)
        many = getattr(captioner, "caption_many", None)
        return [list(c) for c in many(requests)] if many else [list(captioner(*r)) for r in requests]

    def encode_text(self, model_id: str, texts: Sequence[str]) -> np.ndarray:
        """A hub model's text embeddings, cached per model in the registry; missing texts are
        encoded canonically (``registry.store.canonical_compute``), so a vector does not depend
        on the cache's history or on ``--batch-size``. The model stays loaded afterwards."""
        cache = self._keyed(f"text:{model_id}", lambda: self.store.text_cache(model_id))
        return cache.get(list(texts), _TextEncoder(lambda: self.model(model_id).encode_texts),
                         self._progress(f"encode texts with {model_id}"))

    def _progress(self, description: str) -> Callable[[int, int], None]:
        """An ``update(done, total)`` whose progress line appears only once there is work."""
        line: list[Callable[..., None]] = []

        def update(done: int, total: int) -> None:
            if not line:
                line.append(self.report(description, total))
            line[0](done, total)
        return update

    # --- graph and labels --------------------------------------------------
    def graph(self) -> SemanticGraph:
        if self._graph is None:
            stored = load_graph(self.store)
            if stored is not None and not all(self.bench.on_disk(s["name"]) for s in self.bench.samples):
                self._graph = stored  # a registry copied without the sample datasets: its graph stands
                return stored
            settings = {"images_per_node": 75, "seed": 0, **self.bench.graph}
            samples = [self.bench.dataset(s["name"]) for s in self.bench.samples]
            if not samples:
                raise MllbenchError(f"benchmark {self.bench.name!r} has no sample datasets to build a graph from")
            # the graph is a function of these; when they match the stored one, skip WordNet
            sources = _hash([settings, [(d.info.name, d.metadata.get("version"), len(d), d.wnids)
                                        for d in samples]])
            if stored is not None and stored.sources == sources:
                self._graph = stored
            else:
                self._graph = replace(build_graph(samples, **settings), sources=sources)
                save_graph(self.store, self._graph)
        return self._graph

    def open_image(self, ref: str):
        name, _, index = ref.rpartition(":")
        return self.bench.dataset(name.split("@")[0]).image(int(index))

    def ensure(self, model_ids: Sequence[str], tasks: Sequence[str], labels: bool = True) -> None:
        """Label models and cache their predictions where the registry lacks them."""
        self.executor.ensure(self, model_ids, tasks, labels)

    def stored_predictions(self, task: str, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Cached predictions of the task's current version; for a task whose data is not on this
        machine (a copied registry), whatever the registry holds, unchecked. Each file is read
        once per session (``ensure`` checks them all, then reuse reads them again)."""
        key = (task, model_id)
        if key not in self._predictions:
            found = (cached_predictions(self.store, self.bench.dataset(task), model_id) if self.bench.on_disk(task)
                     else self.store.load_predictions(task, model_id, None))
            if found is None:
                return None
            self._predictions[key] = found
        return self._predictions[key]

    def has_predictions(self, task: str, model_id: str) -> bool:
        """Whether ``stored_predictions`` would find them, reading no array: ``ensure`` asks this
        for every model and task, most of which a run never reads (a warm ModelGPT run read
        126 files of similarities only to check them)."""
        if (task, model_id) in self._predictions:
            return True
        on_disk = self.bench.on_disk(task)
        return self.store.has_predictions(task, model_id, task_hash(self.bench.dataset(task)) if on_disk else None)

    def predictions(self, task: str, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        cached = self.stored_predictions(task, model_id)
        if cached is None:
            self.ensure([model_id], [task], labels=False)
            cached = self.stored_predictions(task, model_id)
        return cached

    def accuracy(self, model_id: str, task: str, classes: np.ndarray | None = None) -> float:
        """Zero-shot top-1; with ``classes``, among those classes on their images only."""
        sims, labels = self.predictions(task, model_id)
        if classes is None:
            return float(np.mean(sims.argmax(1) == labels))
        keep = np.isin(labels, classes)
        return float(np.mean(classes[sims[keep][:, classes].argmax(1)] == labels[keep]))

    def sample_classes(self, task: str) -> np.ndarray:
        """A seeded subset of at most ``max_sample_classes`` classes of a sample dataset.

        Text-only selectors (ModelGPT) compute features per class on sample
        datasets; at 1,000+ classes that is most of their cost, so they see a
        fixed subset, and their ground truth is measured on the same subset.
        """
        n = len(self.bench.task_info(task).classnames)
        if self.max_sample_classes is None or n <= self.max_sample_classes:
            return np.arange(n)
        rng = np.random.default_rng(int(hashlib.sha256(task.encode()).hexdigest()[:8], 16))
        return np.sort(rng.choice(n, self.max_sample_classes, replace=False))

    def sample_accuracy(self, model_id: str, task: str) -> float:
        """A model's accuracy on a sample dataset's class subset (ModelGPT's regression target).

        Once per session. A missing prediction brings the model's predictions on every
        sample dataset at once: one model load, not one per dataset.
        """
        key = (model_id, task)
        if key not in self._sample_accuracy:
            if not self.has_predictions(task, model_id):
                self.ensure([model_id], [s["name"] for s in self.bench.samples], labels=False)
            self._sample_accuracy[key] = self.accuracy(model_id, task, self.sample_classes(task))
        return self._sample_accuracy[key]

    def sample_task(self, task: str) -> TaskInfo:
        info = self.bench.task_info(task)
        return replace(info, classnames=tuple(info.classnames[i] for i in self.sample_classes(task)))

    # --- selection and reuse -----------------------------------------------
    def labels(self) -> GraphLabels:
        """One label reader per session: each label file opens once, not once per task."""
        return self._keyed("labels", lambda: GraphLabels(self.store, self.graph(), self.embed))

    def context(self, task: str | TaskInfo, params: dict) -> SelectionContext:
        """A selector's view of a benchmark task (by name) or of a user's task (a TaskInfo in
        no benchmark definition: ``mllbench select --classes``, ``mllbench.api``)."""
        info = task if isinstance(task, TaskInfo) else self.bench.task_info(task)
        table = self.bench.table
        if table is None:
            labels, precomputed = self.labels(), None
            samples = tuple(self.sample_task(s["name"]) for s in self.bench.samples)
            sample_accuracy = self.sample_accuracy
        else:  # a table benchmark: no graph; the other tasks are the sample datasets
            labels, precomputed = NoLabels(), table.task_features
            samples = tuple(self.bench.task_info(t) for t in table.tasks if t != info.name)
            sample_accuracy = lambda m, t: float(table.accuracy[table.models.index(m), table.column(t)])  # noqa: E731
        return SelectionContext(
            task=info, models=self.bench.model_infos, labels=labels,
            captions=self.captions, embed=self.embed, encode_text=self.encode_text, sample_tasks=samples,
            sample_accuracy=sample_accuracy, params=params, precomputed=precomputed, memo=self._memo)

    def prepare(self, method: str, tasks: Sequence[str | TaskInfo], params: dict) -> None:
        """Let a selector that declares ``prepare(contexts)`` batch its model work over all
        ``tasks`` before they are selected one by one (ModelGPT: each model loaded once)."""
        prepare = getattr(self.bench.host.get("selector", method), "prepare", None)
        if prepare is not None and tasks:
            prepare([self.context(t, params) for t in tasks])
            self.release_model()

    def select(self, method: str, task: str | TaskInfo, params: dict) -> np.ndarray:
        selector = self.bench.host.get("selector", method)
        ctx = self.context(task, params)
        scores = np.asarray(selector(ctx), dtype=np.float64)
        expected = (len(self.bench.models), len(ctx.task.classnames))
        if scores.shape != expected:
            raise MllbenchError(f"selector {method!r} returned scores of shape {scores.shape}, "
                                f"expected (n_models, n_classes) = {expected}")
        return scores

    def top_model(self, task: str, scores: np.ndarray) -> dict:
        """A table benchmark's stand-in for reuse: the table accuracy of the top-scored model."""
        best = int(top(scores.mean(1), 1)[0])
        return {"accuracy": float(self.bench.table.accuracy[best, self.bench.table.column(task)]),
                "models_used": [self.bench.models[best]["id"]]}

    def reuse(self, task: str, scores: np.ndarray, k: int, logit_scale: float,
              weighting: str) -> dict:
        """Eqs. 8-10 on cached predictions; accuracy and what was reused."""
        check_params({"k": k, "logit_scale": logit_scale}, len(self.bench.models))
        ids = [m["id"] for m in self.bench.models]
        truth: list[np.ndarray] = []

        def sims_of(m: int) -> np.ndarray:
            sims, labels_ = self.predictions(task, ids[m])
            truth.append(labels_)
            return sims
        probs, used, chosen = reuse_ensemble(sims_of, scores, k, logit_scale, weighting)
        pred, labels = np.argmax(probs, 1), truth[0]
        info = self.bench.task_info(task)
        return {"accuracy": float(np.mean(pred == labels)), "n_images": int(len(labels)),
                "predictions": pred.tolist(), "labels": np.asarray(labels).tolist(),  # per test image
                "per_class": per_class_accuracy(pred, labels, len(info.classnames)),
                "models_used": [ids[m] for m in used],
                "selected": {c: [ids[m] for m in chosen[:, j]] for j, c in enumerate(info.classnames)}}


class _TextEncoder:
    """The text cache's compute: ``make()``'s encoder, made (a model or embedder loaded) only
    when a text is missing, with the encoder's canonical batching
    (``registry.store.canonical_compute``)."""

    def __init__(self, make: Callable[[], Callable]):
        self._make, self._encode = make, None

    def _encoder(self) -> Callable:
        if self._encode is None:
            self._encode = self._make()
        return self._encode

    @property
    def batch_invariant(self) -> bool:
        return bool(getattr(self._encoder(), "batch_invariant", False))

    @property
    def text_batching(self) -> str | None:
        return getattr(self._encoder(), "text_batching", None)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder()(texts)


class NoLabels:
    """The label view of a table benchmark, which has no semantic graph to label on."""

    def __getattr__(self, name: str) -> Any:
        raise MllbenchError("this benchmark is a table with no images or graph; "
                            "use a selector that needs no model labels (inb, modelgpt)")


def scores_are_accuracy(selector: Callable, params: dict) -> bool:
    """Whether a selector's scores predict accuracy (so L1 applies): ``params`` or its own say.

    A selector declares it with an attribute ``scores_are_accuracy(params) -> bool``.
    """
    if "scores_are_accuracy" in params:
        return bool(params["scores_are_accuracy"])
    declared = getattr(selector, "scores_are_accuracy", None)
    return bool(declared(params)) if declared else False


def check_selector_params(selector: Callable, params: dict) -> None:
    """A selector's own parameter checks, if it declares them as an attribute ``check_params(params)``."""
    declared = getattr(selector, "check_params", None)
    if declared:
        declared(params)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def benchmark_hash(bench: Benchmark) -> str:
    """The definition's hash a result records, so results of another definition never mix
    (``mllbench results import`` checks it too). A table benchmark's results are functions of
    its table (the user's ``--lovm-dir`` copy or the pinned download), so its hash covers
    the table's contents as well: results made on another table are never merged."""
    definition = bench.path.read_text()
    table = bench.table
    if table is None:
        return _hash(definition)
    arrays = {"accuracy": table.accuracy, **{f"feature:{k}": v for k, v in table.features.items()}}
    return _hash([definition, list(table.models), list(table.tasks), table.target, table.source,
                  {name: hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes()).hexdigest()
                   for name, values in arrays.items()}])


def environment() -> dict:
    env = {"python": platform.python_version(), "platform": platform.platform(), "numpy": np.__version__}
    for name in ("torch", "open_clip"):
        module = sys.modules.get(name)
        if module is not None:
            env[name] = getattr(module, "__version__", "?")
    return env


def run_method(session: Session, method: str, tasks: Sequence[str], params: dict, k: int,
               logit_scale: float = 100.0, weighting: str = DEFAULT_WEIGHTING) -> tuple[dict, Path]:
    """Select + reuse + evaluate on ``tasks``; write one versioned result JSON.

    The reuse settings may also come in ``params`` (``-p weighting=entropy``): they are used,
    not only recorded, so a result's params always say how it was made.
    """
    bench = session.bench
    ids = [m["id"] for m in bench.models]
    params = dict(params)
    k, logit_scale, weighting = (params.pop(name, value) for name, value in
                                 (("k", k), ("logit_scale", logit_scale), ("weighting", weighting)))
    check_params({"k": k, "logit_scale": logit_scale}, len(ids))  # before any model runs
    if weighting not in WEIGHTINGS:
        raise MllbenchError(f"--weighting must be one of {', '.join(WEIGHTINGS)}; got {weighting!r}")
    check_selector_params(bench.host.get("selector", method), params)
    if bench.table is None:
        session.ensure(ids, tasks)  # labels are the hub's, made once whatever the selector
    elif k != 1:
        raise MllbenchError(f"benchmark {bench.name!r} is a table with no images to ensemble on; use --k 1")
    started, per_task = time.perf_counter(), {}
    session.prepare(method, tasks, params)
    for task in tasks:
        t0 = time.perf_counter()
        scores = session.select(method, task, params)
        t1 = time.perf_counter()
        per_task[task] = (session.reuse(task, scores, k, logit_scale, weighting) if bench.table is None
                          else session.top_model(task, scores))
        per_task[task]["model_scores"] = scores.mean(1).tolist()  # the task's model ranking, aligned with hub
        per_task[task]["timing_s"] = {"select": round(t1 - t0, 4), "reuse": round(time.perf_counter() - t1, 4)}
    host = bench.host
    plugin = host.origins.get(("selector", method), "?")
    record = next((p for p in host.plugins if p.name == plugin), None)
    settings = {"k": k, "logit_scale": logit_scale, "weighting": weighting, **params,
                "captioner": session.captioner, "embedder": session.embedder}
    result = {
        "schema": RESULT_SCHEMA, "mllbench_version": __version__,
        "benchmark": bench.name, "benchmark_hash": benchmark_hash(bench),
        "graph_hash": session.graph().hash if bench.table is None else None,
        "method": method, "plugin": plugin,
        "plugin_distribution": record.distribution if record else "?",
        "plugin_version": record.version if record else "?",
        "params": settings, "hub": ids, "tasks": per_task,
        "scores_are_accuracy": scores_are_accuracy(host.get("selector", method), params),
        "average": float(np.mean([r["accuracy"] for r in per_task.values()])),
        "environment": environment(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    path = session.store.results_dir(bench.name) / method / f"k{k}-{_hash(settings)}-{_hash(sorted(tasks))}.json"
    write_json(path, result)
    return result, path


def write_json(path: Path, data: dict) -> None:
    """Atomic JSON write (``registry.store.atomic_file``), indented, but each array of numbers on
    one line: a result's per-image predictions would otherwise take a line per image."""
    text = _NUMBER_ARRAY.sub(lambda m: "".join(m.group(0).split()), json.dumps(data, indent=1, sort_keys=False))
    with atomic_file(path) as tmp:
        tmp.write_text(text)


# an indented array of numbers; a literal newline never occurs inside a JSON string, so this matches no string
_NUMBER_ARRAY = re.compile(r"\[\n[-+.\deE,\s]*\]")


def ground_truth(session: Session, tasks: Sequence[str]) -> np.ndarray:
    """Every hub model's zero-shot accuracy on every task: (n_models, n_tasks)."""
    table = session.bench.table
    if table is not None:
        return table.accuracy[:, [table.column(t) for t in tasks]]
    ids = [m["id"] for m in session.bench.models]
    session.ensure(ids, tasks, labels=False)
    return np.array([[session.accuracy(m, t) for t in tasks] for m in ids])
