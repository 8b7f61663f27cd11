"""The pipeline's session: graph -> labels -> predictions -> selection -> reuse.

``Session`` owns one benchmark + registry and hands selectors their context. Models run only
when something they would produce is missing from the registry, one model loaded at a time, so a
rerun (or scoring a new selector) costs seconds. Its work is done by named parts, each owning
its own state: ``models.Models`` (the model in memory), ``texts.TextServices`` (captions,
embeddings, text towers), ``graphs.GraphAndLabels`` (the semantic graph and the labels on it),
``predictions.Predictions`` (cached predictions and accuracies) and ``selection.Selection``
(contexts, scores, reuse). What differs between an image and a score-table benchmark, the
benchmark's kind says (``host.benchmark``): on a score table nothing runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from mllbench.core.types import SelectionContext, TaskInfo, VisionLanguageModel
from mllbench.host.benchmark import Benchmark
from mllbench.pipeline.graphs import GraphAndLabels
from mllbench.pipeline.label_view import GraphLabels
from mllbench.pipeline.local import LocalExecutor
from mllbench.pipeline.models import Models
from mllbench.pipeline.predictions import Predictions
from mllbench.pipeline.selection import Selection
from mllbench.pipeline.texts import TextServices
from mllbench.registry.store import Store
from mllbench.semantic.graph import SemanticGraph

if TYPE_CHECKING:
    from mllbench.pipeline.executors import Executor

Reporter = Callable[[str, int], Callable[..., None]]  # (description, total) -> update(done, total, info=...)


def quiet_reporter(description: str, total: int) -> Callable[..., None]:
    """The reporter of a session nobody watches (``-q``, the Python API by default)."""
    return lambda done, total, **fields: None


@dataclass
class Session:
    """One benchmark and registry, with the settings models and text services run with.

    The public fields are settings the front ends may change between calls (``report``,
    ``executor``, ``batch_size``); the methods are the parts' (see the module docstring), kept
    here as one interface for the CLI, the Python API, the executors and third-party code.
    """

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
    # the parts (each reads the settings above from this session, so a change applies at once)
    models: Models = field(init=False, repr=False, compare=False)
    texts: TextServices = field(init=False, repr=False, compare=False)
    semantics: GraphAndLabels = field(init=False, repr=False, compare=False)
    cache: Predictions = field(init=False, repr=False, compare=False)
    selection: Selection = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.models, self.texts, self.semantics = Models(self), TextServices(self), GraphAndLabels(self)
        self.cache, self.selection = Predictions(self), Selection(self)

    # --- models and text services ----------------------------------------------
    def model(self, model_id: str) -> VisionLanguageModel:
        """Load a model, freeing the previous one (one in memory at a time)."""
        return self.models.get(model_id)

    def release_model(self) -> None:
        """Free the model in memory, e.g. before a selector loads its own."""
        self.models.release()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Caption embeddings through the on-disk cache (no model needed on a hit)."""
        return self.texts.embed(texts)

    def captions(self, task: TaskInfo, classname: str) -> list:
        """A class's captions, from the registry's caption cache when it has them."""
        return self.texts.captions(task, classname)

    def encode_text(self, model_id: str, texts: Sequence[str]) -> np.ndarray:
        """A hub model's text embeddings, cached per model in the registry."""
        return self.texts.encode_text(model_id, texts)

    def _progress(self, description: str) -> Callable[[int, int], None]:
        """An ``update(done, total)`` whose progress line appears only once there is work."""
        line: list[Callable[..., None]] = []

        def update(done: int, total: int) -> None:
            if not line:
                line.append(self.report(description, total))
            line[0](done, total)
        return update

    # --- graph, labels and predictions -------------------------------------------
    def graph(self) -> SemanticGraph:
        """The semantic graph: the registry's when current, else built and saved."""
        return self.semantics.graph()

    def open_image(self, ref: str) -> Any:
        """A graph image by its ref (``dataset[@version]:index``)."""
        return self.semantics.open_image(ref)

    def labels(self) -> GraphLabels:
        """One label reader per session: each label file opens once, not once per task."""
        return self.semantics.labels()

    def ensure(self, model_ids: Sequence[str], tasks: Sequence[str], labels: bool = True) -> None:
        """Label models and cache their predictions where the registry lacks them."""
        self.executor.ensure(self, model_ids, tasks, labels)

    def stored_predictions(self, task: str, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Cached (similarities, labels) of the task's current version, or None; runs nothing."""
        return self.cache.stored(task, model_id)

    def has_predictions(self, task: str, model_id: str) -> bool:
        """Whether ``stored_predictions`` would find them, reading no array."""
        return self.cache.has(task, model_id)

    def predictions(self, task: str, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Cached (similarities, labels), made first when the registry lacks them (the model runs)."""
        return self.cache.get(task, model_id)

    def accuracy(self, model_id: str, task: str, classes: np.ndarray | None = None) -> float:
        """Zero-shot top-1; with ``classes``, among those classes on their images only."""
        return self.cache.accuracy(model_id, task, classes)

    def sample_classes(self, task: str) -> np.ndarray:
        """A seeded subset of at most ``max_sample_classes`` classes of a sample dataset."""
        return self.cache.sample_classes(task)

    def sample_accuracy(self, model_id: str, task: str) -> float:
        """A model's accuracy on a sample dataset's class subset (ModelGPT's regression target)."""
        return self.cache.sample_accuracy(model_id, task)

    def sample_task(self, task: str) -> TaskInfo:
        """A sample dataset's task with its ``sample_classes`` only."""
        return self.cache.sample_task(task)

    # --- selection and reuse -------------------------------------------------------
    def context(self, task: str | TaskInfo, params: dict) -> SelectionContext:
        """A selector's view of a benchmark task (by name) or of a user's task (a TaskInfo)."""
        return self.selection.context(task, params)

    def prepare(self, method: str, tasks: Sequence[str | TaskInfo], params: dict) -> None:
        """Let a selector batch its model work over all ``tasks`` first (``prepare(contexts)``)."""
        self.selection.prepare(method, tasks, params)

    def select(self, method: str, task: str | TaskInfo, params: dict) -> np.ndarray:
        """The selector's (n_models, n_classes) scores for ``task``."""
        return self.selection.select(method, task, params)

    def reuse(self, task: str, scores: np.ndarray, k: int, logit_scale: float, weighting: str) -> dict:
        """Eqs. 8-10 on cached predictions; accuracy and what was reused."""
        return self.selection.reuse(task, scores, k, logit_scale, weighting)

    def top_model(self, task: str, scores: np.ndarray) -> dict:
        """A score table's stand-in for reuse (``TableBenchmark.top_model``)."""
        return self.bench.top_model(task, scores)
