"""Benchmark definitions: which hub, which target tasks, which sample datasets.

A definition is JSON data (see ``benchmarks/*.json``) registered by a plugin;
models resolve through the model-provider registry and datasets through the
dataset-source registry, by name, so adding a benchmark needs no code here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mllbench.host.plugins import Host
from mllbench.host.lovm import ScoreTable, definition_parts, lovm_dir, read_lovm
from mllbench.core.types import (ImageDataset, MllbenchError, ModelInfo, TaskInfo, VisionLanguageModel,
                                 entry_info)


@dataclass
class Benchmark:
    name: str
    path: Path
    description: str
    models: list[dict]
    targets: list[dict]
    samples: list[dict]
    graph: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    host: Host | None = None
    table: ScoreTable | None = None  # set for ``"kind": "table"`` definitions (no images, no models)
    _datasets: dict[str, ImageDataset] = field(default_factory=dict)
    _on_disk: dict[str, bool] = field(default_factory=dict)

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

    def load_model(self, model_id: str, **options: Any) -> VisionLanguageModel:
        entry = self.model_entry(model_id)
        factory = self.host.get("model provider", entry.get("provider", "open_clip"))
        return factory({**entry.get("args", {}), **options}, self.base_dir)

    def task_entry(self, name: str) -> dict:
        for entry in self.targets + self.samples:
            if entry["name"] == name:
                return entry
        known = ", ".join(e["name"] for e in self.targets)
        raise MllbenchError(f"unknown task {name!r} in benchmark {self.name!r}; known: {known}")

    def dataset(self, name: str) -> ImageDataset:
        if name not in self._datasets:
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
            entry = self.task_entry(name)
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


def load_benchmark(host: Host, name: str) -> Benchmark:
    """A registered benchmark by name, or a JSON file by path."""
    path = Path(name) if name.endswith(".json") else host.get("benchmark", name)
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MllbenchError(f"cannot read benchmark definition {path}: {exc}") from exc
    table = read_table(data) if data.get("kind") == "table" else None
    if table is not None:
        data["models"], data["targets"] = definition_parts(table)
    try:
        return Benchmark(name=data["name"], path=Path(path).resolve(),
                         description=data.get("description", ""), models=data["models"],
                         targets=data["targets"], samples=data.get("samples", []),
                         graph=data.get("graph", {}), defaults=data.get("defaults", {}), host=host,
                         table=table)
    except KeyError as exc:
        raise MllbenchError(f"benchmark definition {path} lacks the key {exc}") from exc


def read_table(data: dict) -> ScoreTable:
    """A table-only benchmark's tables: the folder its ``dir_env`` variable names, else a pinned download."""
    return read_lovm(lovm_dir(data.get("dir_env", "MLLBENCH_LOVM_DIR")), data.get("target", "acc1"))
