"""LOVM-format tables made by the tests, and where LOVM's published ones are when available.

LOVM's repository has no licence, so its tables are not vendored
(benchmarks/reference/README.md). ``make_lovm_tables`` writes a small stand-in
with the same file names, columns and JSON shapes as LOVM's files at
``SOURCE_COMMIT`` (``mllbench/host/lovm.py``): ``eval_table_features.csv``
(ground truth + ModelGPT's seven feature columns), ``eval_table.csv`` (the
ground-truth columns only), and the two flat JSON objects, including the comma
LOVM's ``dataset_domains.json`` misses. The numbers are seeded random, so
every run writes the same bytes.

``published_tables`` finds LOVM's real files for the tests that reproduce
LOVM's published numbers: ``benchmarks/reference/lovm`` if someone put them
there, else the product's pinned download (the cache, or a fetch when online).

``LOCATION_VARIABLES`` are what conftest's ``reference_env`` fixture clears, so the tests never
read a table set or reference file the machine points at. Imported by name (conftest puts tests/
on sys.path; the suite runs with ``--import-mode=importlib``).
"""
from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "reference" / "lovm"
SKIP_REASON = "LOVM's published tables (no licence to vendor; fetched pinned when online)"
# where the reference data comes from (LOVM's tables, the MLL captions, open_clip's table), and
# whether it may be fetched
LOCATION_VARIABLES = ("MLLBENCH_LOVM_DIR", "MLLBENCH_LOVM_URL", "MLLBENCH_MLL_DIR", "MLLBENCH_OPENCLIP_TABLE",
                      "MLLBENCH_OFFLINE")

# (model, pretrained) as in LOVM's table; model_fullname is "<model> <pretrained>"
MODELS = (("ViT-B-32", "laion2b_e16"), ("ViT-B-16", "laion2b_s34b_b88k"), ("ViT-L-14", "openai"),
          ("ViT-L-14", "laion2b_s32b_b82k"), ("ViT-H-14", "laion2b_s32b_b79k"), ("RN50", "openai"),
          ("convnext_base_w", "laion2b_s13b_b82k"), ("ViT-g-14", "laion2b_s12b_b42k"))
# dataset -> (domain, task type), LOVM's strings for these datasets
DATASETS = {"cifar100": ("photograph/picture", "image classification"),
            "dtd": ("photograph/picture/texture", "image classification"),
            "eurosat": ("satellite/aerial pictures/images", "land cover classification"),
            "imagenet1k": ("photograph/picture", "image classification"),
            "mnist": ("digit", "digit classification"),
            "pcam": ("medical/histopathology images", "medical image classification")}
TRUTH = ("mean_per_class_recall", "acc1", "acc5")
# LOVM's feature columns, in its CSV's order
FEATURES = ("IN-score", "text-f1", "text-acc1", "intraclass_sim", "inter_close", "intra_close", "superclass_metric")
HEADER = ("", "task", "dataset", "model_fullname", "model", "pretrained", *TRUTH)


def make_lovm_tables(directory: Path, seed: int = 0) -> Path:
    """Write the four files into ``directory`` (created); return it."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    n, names = len(MODELS), list(DATASETS)
    skill = rng.uniform(0.45, 0.8, n)  # a model's general strength, so ImageNet says something
    rows = []
    for dataset in names:
        acc1 = np.clip(skill * rng.uniform(0.6, 1.2) + rng.normal(0, 0.06, n), 0.02, 0.99)
        recall = np.clip(acc1 + rng.normal(0, 0.04, n), 0.01, 0.99)  # ranks the models a little differently
        acc5 = np.minimum(acc1 + rng.uniform(0.05, 0.2, n), 1.0)
        text_acc1 = np.clip(acc1 + rng.normal(0, 0.1, n), 0.0, 1.0)
        geometry = rng.uniform(0.2, 0.95, (n, 4))
        for i, (model, pretrained) in enumerate(MODELS):
            rows.append({"task": "zeroshot_classification", "dataset": dataset,
                         "model_fullname": f"{model} {pretrained}", "model": model, "pretrained": pretrained,
                         "mean_per_class_recall": recall[i], "acc1": acc1[i], "acc5": acc5[i],
                         "text-f1": text_acc1[i] * rng.uniform(0.9, 1.0), "text-acc1": text_acc1[i],
                         **dict(zip(FEATURES[3:], geometry[i]))})
    # LOVM's IN-score: the model's ImageNet score, the same on every row of the model
    inet = {r["model_fullname"]: r["mean_per_class_recall"] for r in rows if r["dataset"] == "imagenet1k"}
    for r in rows:
        r["IN-score"] = inet[r["model_fullname"]]
    rows = [rows[i] for i in rng.permutation(len(rows))]  # model order differs per dataset, as in LOVM's file
    for name, columns in (("eval_table_features.csv", (*HEADER, *FEATURES)), ("eval_table.csv", HEADER)):
        with open(directory / name, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for index, r in enumerate(rows):
                writer.writerow([index, *(repr(float(r[c])) if isinstance(r[c], float) else r[c]
                                          for c in columns[1:])])
    for name, column in (("dataset_domains.json", 0), ("dataset_tasks.json", 1)):
        lines = [f' "{d}"{" " * (22 - len(d))}: "{v[column]}"' for d, v in DATASETS.items()]
        # LOVM's dataset_domains.json misses a comma (so it is no JSON); the reader copes
        sep = [",\n"] * (len(lines) - 1)
        if column == 0:
            sep[1] = "\n"
        (directory / name).write_text("{\n" + "".join(x + s for x, s in zip(lines, [*sep, "\n"])) + "}")
    return directory


def read_rows(directory: Path, name: str = "eval_table_features.csv") -> list[dict[str, str]]:
    with open(directory / name, newline="") as f:
        return list(csv.DictReader(f))


@functools.lru_cache(maxsize=None)
def published_tables() -> Path | None:
    """LOVM's own files: benchmarks/reference/lovm, else the product's pinned download
    (cached, or fetched now when the network allows); None when neither works."""
    from mllbench.core.downloads import pinned_files
    from mllbench.core.types import MllbenchError
    from mllbench.host.lovm import FILES, SOURCE_COMMIT, SOURCE_FILES, SOURCE_URL

    if all((REFERENCE_DIR / f).is_file() for f in FILES):
        return REFERENCE_DIR
    try:
        return pinned_files("lovm", SOURCE_URL, SOURCE_COMMIT, SOURCE_FILES, "no copy")
    except MllbenchError:
        return None


# -- independent reference computations on the CSV rows (no mllbench code) -------------------------

def by_dataset(rows: list[dict[str, str]], column: str) -> dict[str, dict[str, float]]:
    """dataset -> model -> the column's value."""
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        out.setdefault(r["dataset"], {})[r["model_fullname"]] = float(r[column])
    return out


def top5(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=scores.get, reverse=True)[:5]


def r5(predicted: dict[str, float], true: dict[str, float]) -> float:
    return len(set(top5(predicted)) & set(top5(true))) / 5


def tau(predicted: dict[str, float], true: dict[str, float]) -> float:
    """Kendall's tau over the models in both top-5 lists (0 when two or fewer); the values have no ties."""
    common = sorted(set(top5(predicted)) & set(top5(true)))
    if len(common) <= 2:
        return 0.0
    pairs = [(a, b) for i, a in enumerate(common) for b in common[i + 1:]]
    agree = sum(1 if (predicted[a] - predicted[b]) * (true[a] - true[b]) > 0 else -1 for a, b in pairs)
    return agree / len(pairs)


def l1(predicted: dict[str, float], true: dict[str, float]) -> float:
    chosen = top5(predicted)
    return abs(sum(predicted[m] - true[m] for m in chosen) / len(chosen))


def regret(predicted: dict[str, float], true: dict[str, float]) -> float:
    return max(true.values()) - true[max(predicted, key=predicted.get)]


METRICS = {"r5": r5, "tau": tau, "l1": l1, "regret": regret}


def inb_predictions(truth: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """LOVM's ImageNet baseline: every dataset's prediction is the ImageNet column of the same table."""
    return {d: dict(truth["imagenet1k"]) for d in truth}


def modelgpt_predictions(rows: list[dict[str, str]], target: str, features: tuple[str, ...],
                         centred: bool) -> dict[str, dict[str, float]]:
    """ModelGPT leave-one-dataset-out: per dataset, a linear fit (with intercept, normal equations)
    of the other datasets' ``target`` (minus each dataset's mean over models when ``centred``)
    on LOVM's feature columns ``features``, evaluated on the dataset's own features."""
    truth = by_dataset(rows, target)
    x = {(r["dataset"], r["model_fullname"]): [1.0, *(float(r[c]) for c in features)] for r in rows}
    out = {}
    for held_out in truth:
        design, y = [], []
        for d, accs in truth.items():
            if d == held_out:
                continue
            mean = sum(accs.values()) / len(accs) if centred else 0.0
            for m, a in accs.items():
                design.append(x[d, m])
                y.append(a - mean)
        a_, y_ = np.array(design), np.array(y)
        coef = np.linalg.solve(a_.T @ a_, a_.T @ y_)
        out[held_out] = {m: float(np.dot(x[held_out, m], coef)) for m in truth[held_out]}
    return out


def expected(metric: str, predicted: dict[str, dict[str, float]],
             truth: dict[str, dict[str, float]]) -> dict[str, float]:
    """A leaderboard row recomputed: the metric per dataset, and "avg" over them."""
    row = {d: METRICS[metric](predicted[d], truth[d]) for d in truth}
    row["avg"] = sum(row.values()) / len(truth)
    return row
