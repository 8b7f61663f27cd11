"""The leaderboard, rebuilt from result files: methods x tasks, plus the oracle.

Accuracy after reuse by default; with a ground-truth table, any of LOVM's
ranking metrics (``mllbench/ranking.py``) on each result's ``model_scores``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from mllbench.ranking import METRICS

MISSING = "–"


def load_results(results_dir: Path) -> list[dict]:
    """Every result JSON of a benchmark, oldest first; unreadable files are skipped."""
    results = []
    for path in sorted(results_dir.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        data["_path"] = str(path)
        results.append(data)
    return sorted(results, key=lambda r: r.get("created", ""))


def row_label(result: dict) -> str:
    p = result["params"]
    extra = f", α={p['alpha']}" if "alpha" in p and result["method"] == "mll" else ""
    extra += "".join(f", {key}={p[key]}" for key in ("target", "features") if key in p)
    return f"{result['method']} (k={p['k']}{extra})"


def table(results: Sequence[dict], tasks: Sequence[str], oracle: dict[str, float] | None = None,
          digits: int = 4, metric: str = "accuracy", truth: np.ndarray | None = None,
          hub: Sequence[str] = ()) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per result file (latest wins per label), oracle last.

    Averages are over all ``tasks`` and shown only when every task is present,
    so rows with different task sets are never silently compared. A ranking
    ``metric`` needs ``truth`` (n_models, n_tasks) for the ``hub`` model ids.
    """
    latest: dict[str, dict] = {}
    for r in results:
        latest[row_label(r)] = r
    header = ["method", "version", *tasks, "avg"]
    rows = []
    for label, r in sorted(latest.items()):
        values = ([r["tasks"].get(t, {}).get("accuracy") for t in tasks] if metric == "accuracy"
                  else ranking_values(r, tasks, metric, truth, hub))
        rows.append([label, r.get("plugin_version", "?"), *_cells(values, digits)])
    if oracle:
        rows.append(["oracle (best single model)", "ground truth",
                     *_cells([oracle.get(t) for t in tasks], digits)])
    return header, rows


def ranking_values(result: dict, tasks: Sequence[str], metric: str, truth: np.ndarray,
                   hub: Sequence[str]) -> list[float | None]:
    """A ranking metric per task; None where the result lacks scores, has another hub,
    or (L1) does not predict accuracy."""
    if list(result.get("hub", [])) != list(hub) or (metric == "l1" and not result.get("scores_are_accuracy")):
        return [None] * len(tasks)
    scores = [result["tasks"].get(t, {}).get("model_scores") for t in tasks]
    return [None if s is None else METRICS[metric](np.asarray(s), truth[:, j]) for j, s in enumerate(scores)]


def _cells(values: Sequence[float | None], digits: int) -> list[str]:
    cells = [MISSING if v is None else f"{v:.{digits}f}" for v in values]
    avg = MISSING if any(v is None for v in values) or not values else f"{np.mean(values):.{digits}f}"
    return cells + [avg]


def render(header: list[str], rows: list[list[str]], fmt: str, title: str = "") -> str | None:
    """Text for markdown/csv/latex (tabulate); None means: print with rich."""
    if fmt == "rich":
        return None
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        csv.writer(buf).writerows([header, *rows])
        return buf.getvalue()
    from tabulate import tabulate

    return tabulate(rows, headers=header, tablefmt={"markdown": "github", "latex": "latex_booktabs"}[fmt])
