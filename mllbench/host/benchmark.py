"""Benchmark definitions: which hub, which target tasks, which sample datasets, and of which kind.

A definition is JSON data (see ``benchmarks/*.json``) registered by a plugin;
models resolve through the model-provider registry and datasets through the
dataset-source registry, by name, so adding a benchmark needs no code here.

Its ``"kind"`` picks the class (``KINDS``): an image benchmark (``ImageBenchmark``: a
semantic graph, model labels, models run on images) or a score-table benchmark
(``TableBenchmark``: LOVM's tables, no images, accuracies read from the table). The
pipeline asks the kind what differs (the selection context's sample datasets, reuse or
the top model's table score, the ground truth, the hash a result records) and never
which kind it holds; the kinds reach the pipeline through ``Runner``, declared here, so
this floor imports nothing above it.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, NamedTuple, Protocol, Sequence

import numpy as np

from mllbench.core.types import (ImageDataset, LabelView, MllbenchError, ModelInfo, TaskInfo, VisionLanguageModel,
                                 entry_info)
from mllbench.host.lovm import PUBLISHED, ScoreTable, definition_parts, lovm_dir, read_lovm
from mllbench.host.plugins import Host
from mllbench.host.subsets import SUBSET_MARK, ClassSubset, class_subset
from mllbench.maths.ranking import top


MODEL_SETTINGS = ("device", "precision", "batch_size")  # set per model (definition, CLI) or per session


def short_hash(obj: Any) -> str:
    """A 12-hex content key of JSON-able data: what results, graphs and definitions are named by."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


class Runner(Protocol):
    """What a benchmark kind asks of the session that runs it (``pipeline.Session`` is one)."""

    def labels(self) -> LabelView: ...

    def graph(self) -> Any: ...

    def sample_task(self, task: str) -> TaskInfo: ...

    def sample_accuracy(self, model_id: str, task: str) -> float: ...

    def ensure(self, model_ids: Sequence[str], tasks: Sequence[str], labels: bool = True) -> None: ...

    def has_predictions(self, task: str, model_id: str) -> bool: ...

    def accuracy(self, model_id: str, task: str, classes: np.ndarray | None = None) -> float: ...

    def reuse(self, task: str, scores: np.ndarray, k: int, logit_scale: float, weighting: str) -> dict: ...


class SelectionInputs(NamedTuple):
    """The parts of a selector's context that depend on the benchmark's kind."""

    labels: LabelView
    sample_tasks: tuple[TaskInfo, ...]
    sample_accuracy: Callable[[str, str], float]
    precomputed: Callable[[str], Mapping[str, np.ndarray]] | None


@dataclass
class Benchmark(ABC):
    """A benchmark definition, resolved: its hub of models, target tasks and sample datasets,
    found through the host's registries by name. The subclasses are the kinds (``KINDS``);
    what differs between them is a method here, so callers never ask which kind they hold.
    ``table`` is set on score-table benchmarks only, kept for code that reads it."""

    name: str
    path: Path
    description: str
    models: list[dict]
    targets: list[dict]
    samples: list[dict]
    graph: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    host: Host | None = None
    table: ScoreTable | None = None
    _datasets: dict[str, ImageDataset] = field(default_factory=dict)
    _on_disk: dict[str, bool] = field(default_factory=dict)

    needs_graph: ClassVar[bool] = True  # whether its results depend on a semantic graph (``graph_hash``)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def model_infos(self) -> tuple[ModelInfo, ...]:
        return tuple(ModelInfo(m["id"], m.get("metadata", {})) for m in self.models)

    def model_entry(self, model_id: str) -> dict:
        for m in self.models:
            if m["id"] == model_id:
                return m
        raise MllbenchError(f"unknown model {model_id!r} in benchmark {self.name!r}; "
                            "see `mllbench models`")

    def provider(self, model_id: str, options: Mapping[str, Any]) -> tuple[str, Callable, dict]:
        """A model's provider name, its factory (whose optional ``fingerprint``, ``preprocess_key``
        and ``locate`` are attributes) and the entry's args with ``options``."""
        entry = self.model_entry(model_id)
        name = entry.get("provider", "open_clip")
        return name, self.host.get("model provider", name), {**entry.get("args", {}), **options}

    def load_model(self, model_id: str, **options: Any) -> VisionLanguageModel:
        _, factory, args = self.provider(model_id, options)
        return factory(args, self.base_dir)

    def model_settings(self, model_id: str, defaults: Mapping[str, Any],
                       overrides: Mapping[str, Any] | None = None) -> dict:
        """The ``MODEL_SETTINGS`` a model runs with: the CLI's per-model ``overrides`` win, then the
        definition's entry (its ``"run"``, then its ``"args"``), then the session's ``defaults``.
        Why this order: a hub's large models need amp or small batches that the rest do not,
        so a definition's per-model value is not undone by the session's one setting for all."""
        entry = self.model_entry(model_id)
        own = {**entry.get("args", {}), **entry.get("run", {})}
        out = {k: v for k, v in defaults.items() if v}
        out.update({k: own[k] for k in MODEL_SETTINGS if own.get(k)})
        out.update({k: v for k, v in (overrides or {}).items() if v})
        return out

    def model_fingerprint(self, model_id: str, **options: Any) -> dict:
        """How the model computes with ``options``, from its provider's ``fingerprint(args, base_dir)``
        (no model loaded); a provider without one is described by its entry's args."""
        provider, factory, args = self.provider(model_id, options)
        fingerprint = getattr(factory, "fingerprint", None)
        if fingerprint is not None:
            return {"provider": provider, **fingerprint(args, self.base_dir)}
        return {"provider": provider, "args": {k: v for k, v in args.items() if k not in ("device", "batch_size")}}

    def model_preprocess_hint(self, model_id: str, **options: Any) -> str | None:
        """Which models may share decoded images when labelled (``mllbench.contract.pixels``), from the
        provider's ``preprocess_key(args, base_dir)`` (no model loaded); None where it has none."""
        _, factory, args = self.provider(model_id, options)
        hint = getattr(factory, "preprocess_key", None)
        return None if hint is None else hint(args, self.base_dir)

    def task_entry(self, name: str) -> dict:
        for entry in self.targets + self.samples:
            if entry["name"] == name:
                return entry
        known = ", ".join(e["name"] for e in self.targets)
        raise MllbenchError(f"unknown task {name!r} in benchmark {self.name!r}; known: {known}")

    def dataset(self, name: str) -> ImageDataset:
        """A task or sample dataset by name, or a sample dataset's class subset (``subset_name``)."""
        if name not in self._datasets:
            base, mark, most = name.partition(SUBSET_MARK)
            if mark:
                whole = self.dataset(base)
                self._datasets[name] = ClassSubset(whole, name, class_subset(base, len(whole.info.classnames),
                                                                             int(most)))
                return self._datasets[name]
            entry = self.task_entry(name)
            factory = self.host.get("dataset source", entry["source"])
            self._datasets[name] = factory(entry, self.base_dir)
        return self._datasets[name]

    def on_disk(self, name: str) -> bool:
        """Whether a dataset's files are here, asked of its source's ``locate`` (no download, no load).

        False lets a registry copied without the data be scored from what it
        stores (``Session.graph``/``Session.predictions``); True when the
        source cannot tell, so that loading it says what is wrong.
        """
        if name not in self._on_disk:
            entry = self.task_entry(name.partition(SUBSET_MARK)[0])
            locate = getattr(self.host.get("dataset source", entry["source"]), "locate", None)
            self._on_disk[name] = locate is None or locate(entry, self.base_dir).cached
        return self._on_disk[name]

    def task_info(self, name: str) -> TaskInfo:
        """Task metadata without touching its images when the entry names its classes."""
        entry = self.task_entry(name)
        names = entry.get("classnames") or [c["name"] for c in entry.get("classes", [])]
        return entry_info(entry, names) if names else self.dataset(name).info

    def resolve_tasks(self, spec: str) -> list[str]:
        """``all`` or a comma list of target task names."""
        names = [t["name"] for t in self.targets]
        if spec == "all":
            return names
        wanted = [s.strip() for s in spec.split(",") if s.strip()]
        for w in wanted:
            self.task_entry(w)
        return wanted

    @property
    def model_ids(self) -> list[str]:
        return [m["id"] for m in self.models]

    # --- what differs between the kinds ------------------------------------------------
    @classmethod
    def complete(cls, data: dict) -> dict:
        """The definition this kind is built from: ``data``, plus what the kind reads from elsewhere."""
        return data

    @abstractmethod
    def content_hash(self) -> str:
        """The hash a result records (``benchmark_hash``), so results of another definition
        never mix (``mllbench results import`` checks it too)."""

    @abstractmethod
    def selection_inputs(self, task: TaskInfo, runner: Runner) -> SelectionInputs:
        """A selector's labels, sample datasets and their accuracies for ``task``."""

    @abstractmethod
    def before_selection(self, runner: Runner, model_ids: Sequence[str], tasks: Sequence[str]) -> None:
        """What must be in the registry before selecting on ``tasks`` (and reusing on them)."""

    @abstractmethod
    def check_reuse(self, k: int) -> None:
        """Refuse, before anything runs, a reuse this kind cannot score."""

    @abstractmethod
    def outcome(self, runner: Runner, task: str, scores: np.ndarray, k: int, logit_scale: float,
                weighting: str) -> dict:
        """A selection's result on ``task``: its ``accuracy`` and the ``models_used``, at least."""

    @abstractmethod
    def graph_hash(self, runner: Runner) -> str | None:
        """The semantic graph a result was made on; None where none is involved."""

    @abstractmethod
    def truth_missing(self, runner: Runner, tasks: Sequence[str]) -> int:
        """How many (model, task) accuracies of the ground truth cannot be read without running a model."""

    @abstractmethod
    def truth(self, runner: Runner, tasks: Sequence[str]) -> np.ndarray:
        """Every hub model's accuracy on ``tasks``, (n_models, n_tasks), read (``truth_missing`` is 0)."""

    def no_images(self) -> str | None:
        """Why this benchmark has no models to run on images (``run --dry-run``, ``Hub.predict``), or None."""
        return None

    def published(self) -> dict[str, tuple] | None:
        """The source's own published results table for this benchmark, if it has one."""
        return None


@dataclass
class ImageBenchmark(Benchmark):
    """Hub models run on images: labels on a semantic graph built from the sample datasets,
    zero-shot predictions on the target tasks, reuse (Eqs. 8-10) on cached predictions."""

    def content_hash(self) -> str:
        return short_hash(self.path.read_text())

    def selection_inputs(self, task: TaskInfo, runner: Runner) -> SelectionInputs:
        samples = tuple(runner.sample_task(s["name"]) for s in self.samples)
        return SelectionInputs(runner.labels(), samples, runner.sample_accuracy, None)

    def before_selection(self, runner: Runner, model_ids: Sequence[str], tasks: Sequence[str]) -> None:
        runner.ensure(model_ids, tasks)  # labels are the hub's, made once whatever the selector

    def check_reuse(self, k: int) -> None:
        """Any k the reuse settings allow (``contract.options``)."""

    def outcome(self, runner: Runner, task: str, scores: np.ndarray, k: int, logit_scale: float,
                weighting: str) -> dict:
        return runner.reuse(task, scores, k, logit_scale, weighting)

    def graph_hash(self, runner: Runner) -> str | None:
        return runner.graph().hash

    def truth_missing(self, runner: Runner, tasks: Sequence[str]) -> int:
        return sum(not runner.has_predictions(t, m) for m in self.model_ids for t in tasks)

    def truth(self, runner: Runner, tasks: Sequence[str]) -> np.ndarray:
        return np.array([[runner.accuracy(m, t) for t in tasks] for m in self.model_ids])


@dataclass
class TableBenchmark(Benchmark):
    """A published score table (LOVM's, ``host/lovm.py``): no images, no graph, no model runs.
    Each task is one pseudo-class; a selector's sample datasets are the other tasks
    (leave-one-dataset-out) and its top model is scored from the table."""

    needs_graph: ClassVar[bool] = False

    @classmethod
    def complete(cls, data: dict) -> dict:
        """The hub and the targets come from the table (``lovm.definition_parts``)."""
        table = read_table(data)
        models, targets = definition_parts(table)
        return {**data, "models": models, "targets": targets, "table": table}

    def __post_init__(self) -> None:
        if self.table is None:
            raise MllbenchError(f"benchmark {self.name!r} is a score table but none was read; "
                                "load it with load_benchmark")

    def content_hash(self) -> str:
        """The definition's and the table's contents: results made on another copy of the table
        (another ``--lovm-dir``) are never merged."""
        table = self.table
        arrays = {"accuracy": table.accuracy, **{f"feature:{k}": v for k, v in table.features.items()}}
        return short_hash([self.path.read_text(), list(table.models), list(table.tasks), table.target, table.source,
                           {name: hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes()).hexdigest()
                            for name, values in arrays.items()}])

    def selection_inputs(self, task: TaskInfo, runner: Runner) -> SelectionInputs:
        table = self.table
        samples = tuple(self.task_info(t) for t in table.tasks if t != task.name)
        return SelectionInputs(NoLabels(), samples, self.table_accuracy, table.task_features)

    def table_accuracy(self, model_id: str, task: str) -> float:
        """A model's accuracy on a task, as the table gives it."""
        return float(self.table.accuracy[self.table.models.index(model_id), self.table.column(task)])

    def before_selection(self, runner: Runner, model_ids: Sequence[str], tasks: Sequence[str]) -> None:
        """Nothing: the table holds all a selector may read."""

    def check_reuse(self, k: int) -> None:
        if k != 1:
            raise MllbenchError(f"benchmark {self.name!r} is a table with no images to ensemble on; use --k 1")

    def outcome(self, runner: Runner, task: str, scores: np.ndarray, k: int, logit_scale: float,
                weighting: str) -> dict:
        return self.top_model(task, scores)

    def top_model(self, task: str, scores: np.ndarray) -> dict:
        """The stand-in for reuse: the table accuracy of the top-scored model."""
        best = int(top(scores.mean(1), 1)[0])
        return {"accuracy": float(self.table.accuracy[best, self.table.column(task)]),
                "models_used": [self.models[best]["id"]]}

    def graph_hash(self, runner: Runner) -> str | None:
        return None

    def truth_missing(self, runner: Runner, tasks: Sequence[str]) -> int:
        return 0

    def truth(self, runner: Runner, tasks: Sequence[str]) -> np.ndarray:
        return self.table.accuracy[:, [self.table.column(t) for t in tasks]]

    def no_images(self) -> str | None:
        return f"benchmark {self.name!r} is a score table: it has no models to run and no images to read"

    def published(self) -> dict[str, tuple] | None:
        return PUBLISHED.get(self.table.target) if self.table.source == "lovm" else None


class NoLabels:
    """The label view of a table benchmark, which has no semantic graph to label on."""

    def __getattr__(self, name: str) -> Any:
        raise MllbenchError("this benchmark is a table with no images or graph; "
                            "use a selector that needs no model labels (inb, modelgpt)")


def read_table(data: dict) -> ScoreTable:
    """A table-only benchmark's tables: the folder its ``dir_env`` variable names, else a pinned download."""
    return read_lovm(lovm_dir(data.get("dir_env", "MLLBENCH_LOVM_DIR")), data.get("target", "acc1"))


# a definition's "kind" -> its class
KINDS: dict[str, type[Benchmark]] = {"image": ImageBenchmark, "table": TableBenchmark}


def load_benchmark(host: Host, name: str) -> Benchmark:
    """A registered benchmark by name, or a JSON file by path, as the class its ``"kind"`` names."""
    path = Path(name) if name.endswith(".json") else host.get("benchmark", name)
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MllbenchError(f"cannot read benchmark definition {path}: {exc}") from exc
    kind = data.get("kind", "image")
    if kind not in KINDS:
        raise MllbenchError(f"benchmark definition {path} has the unknown kind {kind!r}; "
                            f"use one of {', '.join(KINDS)}")
    cls = KINDS[kind]
    data = cls.complete(data)
    try:
        return cls(name=data["name"], path=Path(path).resolve(), description=data.get("description", ""),
                   models=data["models"], targets=data["targets"], samples=data.get("samples", []),
                   graph=data.get("graph", {}), defaults=data.get("defaults", {}), host=host,
                   table=data.get("table"))
    except KeyError as exc:
        raise MllbenchError(f"benchmark definition {path} lacks the key {exc}") from exc
