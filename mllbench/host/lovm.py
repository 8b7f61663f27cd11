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
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mllbench.core.downloads import pinned_files
from mllbench.core.types import MllbenchError

# LOVM's feature columns -> ModelGPT's feature names (plugins/selector_modelgpt.py)
FEATURE_COLUMNS = {"text-acc1": "text_acc1", "text-f1": "text_f1", "intraclass_sim": "intraclass_sim",
                   "inter_close": "inter_close", "intra_close": "intra_close",
                   "superclass_metric": "superclass_metric", "IN-score": "imagenet_score"}
FILES = ("eval_table_features.csv", "dataset_domains.json", "dataset_tasks.json")
# LOVM's ground-truth columns a table benchmark can score against ("target" in its definition)
TARGETS = ("acc1", "mean_per_class_recall")
# where the files live in LOVM's repository, pinned to the commit they were read at
SOURCE_URL = "https://raw.githubusercontent.com/orrzohar/LOVM"
SOURCE_COMMIT = "418cdcd282ae028cfd052c63b1ff42ffc729c186"
SOURCE_FILES = {FILES[0]: f"modelGPT/{FILES[0]}", FILES[1]: f"LOVM/{FILES[1]}", FILES[2]: f"LOVM/{FILES[2]}"}

# LOVM's published results table (Zohar et al. 2023, the table in its repository's
# docs/img_3.png): per score group, the best feature subset's R5, tau and L1 over
# its 23 datasets. "INB" is the ImageNet baseline; "INB+G+C" is ModelGPT's row.
PUBLISHED = {
    "mean_per_class_recall": {
        "INB": (0.504, 0.186, 0.228), "C": (0.252, 0.058, 0.182), "G": (0.270, -0.014, 0.145),
        "G+C": (0.261, 0.101, 0.145), "INB+C": (0.522, 0.214, 0.182), "INB+G": (0.539, 0.197, 0.145),
        "INB+G+C": (0.539, 0.197, 0.145)},
    "acc1": {
        "INB": (0.452, 0.177, 0.220), "C": (0.226, 0.058, 0.176), "G": (0.252, -0.014, 0.143),
        "G+C": (0.252, -0.014, 0.143), "INB+C": (0.461, 0.223, 0.176), "INB+G": (0.461, 0.096, 0.141),
        "INB+G+C": (0.461, 0.223, 0.141)},
}


@dataclass(frozen=True)
class ScoreTable:
    """Ground truth and precomputed features of a table-only benchmark."""

    models: tuple[str, ...]
    tasks: tuple[str, ...]
    accuracy: np.ndarray  # (n_models, n_tasks) top-1
    features: dict[str, np.ndarray]  # feature name -> (n_models, n_tasks)
    domains: dict[str, str]
    task_types: dict[str, str]
    target: str = "acc1"  # the ground-truth column ``accuracy`` holds
    source: str = "lovm"  # whose table (keys ``PUBLISHED``)

    def column(self, task: str) -> int:
        return self.tasks.index(task)

    def task_features(self, task: str) -> dict[str, np.ndarray]:
        """Every feature of one task, (n_models,) each."""
        j = self.column(task)
        return {name: values[:, j] for name, values in self.features.items()}


def lovm_dir(env: str = "MLLBENCH_LOVM_DIR") -> Path:
    """The user's copy of LOVM's files (``--lovm-dir`` / the env variable), else a pinned download."""
    if os.environ.get(env):
        return Path(os.environ[env])
    return pinned_files("lovm", os.environ.get("MLLBENCH_LOVM_URL", SOURCE_URL), SOURCE_COMMIT, SOURCE_FILES,
                        "pass --lovm-dir with a copy of LOVM's LOVM/ folder (plus modelGPT/eval_table_features.csv)")


def read_lovm(directory: Path, target: str = "acc1") -> ScoreTable:
    """LOVM's ``eval_table_features.csv`` (ground truth + features) and its domain/task strings.

    ``target`` is the ground-truth column scored against: top-1 (``acc1``)
    or ``mean_per_class_recall``, LOVM's two tables.
    """
    if target not in TARGETS:
        raise MllbenchError(f"unknown LOVM target {target!r}; use one of {', '.join(TARGETS)}")
    missing = [f for f in FILES if not (directory / f).is_file()]
    if missing:
        raise MllbenchError(f"{directory} lacks LOVM's {', '.join(missing)}; point --lovm-dir at LOVM's LOVM/ folder")
    path = directory / FILES[0]
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    columns = {target: "accuracy", **FEATURE_COLUMNS}
    absent = [c for c in ("model_fullname", "dataset", *columns) if c not in (reader.fieldnames or ())]
    if absent:
        raise MllbenchError(f"{path} lacks the column(s) {', '.join(absent)}; use LOVM's eval_table_features.csv")
    models = tuple(dict.fromkeys(r["model_fullname"] for r in rows))
    tasks = tuple(sorted({r["dataset"] for r in rows}))
    values = {name: np.full((len(models), len(tasks)), np.nan) for name in columns.values()}
    for r in rows:
        i, j = models.index(r["model_fullname"]), tasks.index(r["dataset"])
        for column, name in columns.items():
            try:
                values[name][i, j] = float(r[column])
            except ValueError:
                raise MllbenchError(f"{path}: {column}={r[column]!r} for {r['model_fullname']} on {r['dataset']} "
                                    "is not a number; use LOVM's eval_table_features.csv") from None
    if np.isnan(values["accuracy"]).any():
        raise MllbenchError(f"{directory / FILES[0]} lacks some (model, dataset) rows; use LOVM's complete table")
    accuracy = values.pop("accuracy")
    domains, task_types = (string_pairs((directory / f).read_text()) for f in FILES[1:])
    return ScoreTable(models, tasks, accuracy, values, domains, task_types, target)


def string_pairs(text: str) -> dict[str, str]:
    """``"key": "value"`` pairs of a flat JSON object; LOVM's files miss a comma, so no json.loads."""
    return dict(re.findall(r'"([^"]+)"\s*:\s*"([^"]*)"', text))


def definition_parts(table: ScoreTable) -> tuple[list[dict], list[dict]]:
    """Hub and target entries of a benchmark definition, built from the table.

    ``imagenet_acc`` (INB's input) is each model's imagenet1k score in the
    table's target column, which is what LOVM's ImageNet baseline ranks by.
    """
    if "imagenet1k" not in table.tasks:
        raise MllbenchError("the LOVM table has no imagenet1k rows, which INB's imagenet_acc comes from; "
                            "use LOVM's complete eval_table_features.csv")
    inet = table.accuracy[:, table.column("imagenet1k")]
    models = [{"id": m, "provider": "table", "metadata": {"imagenet_acc": float(a)}}
              for m, a in zip(table.models, inet)]
    targets = [{"name": t, "source": "table", "classnames": [t], "domain": table.domains.get(t, ""),
                "task_type": table.task_types.get(t, "image classification")} for t in table.tasks]
    return models, targets
