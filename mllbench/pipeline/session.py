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
import sys
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from mllbench.host.benchmark import Benchmark
from mllbench.pipeline.evaluate import cached_predictions, per_class_accuracy, predict, task_hash
from mllbench.semantic.graph import SemanticGraph, build_graph
from mllbench.pipeline.labeling import GraphLabels, label_is_current, label_model
from mllbench.contract.options import check_params
from mllbench.maths.ranking import top
from mllbench.registry.store import Store, load_graph, save_graph
from mllbench.maths.reuse import reuse_ensemble
from mllbench.core.types import MllbenchError, SelectionContext, TaskInfo, VisionLanguageModel

if TYPE_CHECKING:
    from mllbench.pipeline.executors import Executor

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
    executor: "Executor" = field(default_factory=lambda: LocalExecutor())  # where models run (executors.py)
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
            sources = short_hash([settings, [(d.info.name, d.metadata.get("version"), len(d), d.wnids)
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


def short_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


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


def missing(session: Session, model_ids: Sequence[str], tasks: Sequence[str],
            labels: bool) -> list[tuple[str, bool, list[str]]]:
    """(model, needs its label, tasks lacking its predictions) for each model with work left."""
    graph = session.graph() if labels else None
    out = []
    for model_id in model_ids:
        label = graph is not None and not label_is_current(session.store, graph, model_id)
        todo = [t for t in tasks if not session.has_predictions(t, model_id)]
        if label or todo:
            out.append((model_id, label, todo))
    return out


class LocalExecutor:
    """In this process, one model loaded at a time."""

    def __init__(self, **options: Any):
        if options:
            raise MllbenchError(f"the local executor takes no options (got {', '.join(options)}); "
                                "use --executor ray for cluster options")

    def ensure(self, session: Session, model_ids: Sequence[str], tasks: Sequence[str],
               labels: bool = True) -> None:
        for model_id, label, todo in missing(session, model_ids, tasks, labels):
            if label:
                graph = session.graph()
                update = session.report(f"label {model_id}", len(graph.image_refs))
                label_model(session.store, graph, model_id, lambda: session.model(model_id),
                            session.open_image, session.batch_size, update)
            for task in todo:
                ds = session.bench.dataset(task)
                update = session.report(f"predict {model_id} on {task}", len(ds))
                predict(session.store, ds, model_id, session.model(model_id), session.batch_size, update)
        session.release_model()

    def close(self) -> None:
        pass
