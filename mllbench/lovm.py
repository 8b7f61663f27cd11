"""LOVM's published tables as a table-only benchmark: real models, no images.

LOVM (Zohar et al. 2023) released the zero-shot accuracy of 35 open_clip
models on 23 datasets and seven text features per (model, dataset). With
them INB and ModelGPT can be scored on real numbers without running a model.

Design: such a benchmark is an ordinary definition with ``"kind": "table"``
(``benchmarks/lovm.json``) whose hub and tasks are read from the user's copy
of LOVM's files at load time (the project ships none of them). Each task is
one pseudo-class, so selectors return their usual (n_models, n_classes)
scores; ``pipeline.run_method`` then takes the top model's accuracy from
the table instead of reusing it on images, and a selector's sample datasets
are the other tasks (leave-one-dataset-out, as LOVM evaluates).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mllbench.types import MllbenchError

# LOVM's feature columns -> ModelGPT's feature names (plugins/selector_modelgpt.py)
FEATURE_COLUMNS = {"text-acc1": "text_acc1", "text-f1": "text_f1", "intraclass_sim": "intraclass_sim",
                   "inter_close": "inter_close", "intra_close": "intra_close",
                   "superclass_metric": "superclass_metric", "IN-score": "imagenet_score"}
FILES = ("eval_table_features.csv", "dataset_domains.json", "dataset_tasks.json")


@dataclass(frozen=True)
class ScoreTable:
    """Ground truth and precomputed features of a table-only benchmark."""

    models: tuple[str, ...]
    tasks: tuple[str, ...]
    accuracy: np.ndarray  # (n_models, n_tasks) top-1
    features: dict[str, np.ndarray]  # feature name -> (n_models, n_tasks)
    domains: dict[str, str]
    task_types: dict[str, str]

    def column(self, task: str) -> int:
        return self.tasks.index(task)

    def task_features(self, task: str) -> dict[str, np.ndarray]:
        """Every feature of one task, (n_models,) each."""
        j = self.column(task)
        return {name: values[:, j] for name, values in self.features.items()}


def read_lovm(directory: Path) -> ScoreTable:
    """LOVM's ``eval_table_features.csv`` (acc1 + features) and its domain/task strings."""
    missing = [f for f in FILES if not (directory / f).is_file()]
    if missing:
        raise MllbenchError(f"{directory} lacks LOVM's {', '.join(missing)}; point --lovm-dir at LOVM's LOVM/ folder")
    with open(directory / FILES[0], newline="") as f:
        rows = list(csv.DictReader(f))
    models = tuple(dict.fromkeys(r["model_fullname"] for r in rows))
    tasks = tuple(sorted({r["dataset"] for r in rows}))
    columns = {"acc1": "accuracy", **FEATURE_COLUMNS}
    values = {name: np.full((len(models), len(tasks)), np.nan) for name in columns.values()}
    for r in rows:
        i, j = models.index(r["model_fullname"]), tasks.index(r["dataset"])
        for column, name in columns.items():
            values[name][i, j] = float(r[column])
    if np.isnan(values["accuracy"]).any():
        raise MllbenchError(f"{directory / FILES[0]} lacks some (model, dataset) rows; use LOVM's complete table")
    accuracy = values.pop("accuracy")
    domains, task_types = (string_pairs((directory / f).read_text()) for f in FILES[1:])
    return ScoreTable(models, tasks, accuracy, values, domains, task_types)


def string_pairs(text: str) -> dict[str, str]:
    """``"key": "value"`` pairs of a flat JSON object; LOVM's files miss a comma, so no json.loads."""
    return dict(re.findall(r'"([^"]+)"\s*:\s*"([^"]*)"', text))


def definition_parts(table: ScoreTable) -> tuple[list[dict], list[dict]]:
    """Hub and target entries of a benchmark definition, built from the table.

    ``imagenet_acc`` (INB's input) is each model's imagenet1k top-1 in the
    table, which is what LOVM's ImageNet baseline ranks by.
    """
    inet = table.accuracy[:, table.column("imagenet1k")]
    models = [{"id": m, "provider": "table", "metadata": {"imagenet_acc": float(a)}}
              for m, a in zip(table.models, inet)]
    targets = [{"name": t, "source": "table", "classnames": [t], "domain": table.domains.get(t, ""),
                "task_type": table.task_types.get(t, "image classification")} for t in table.tasks]
    return models, targets
