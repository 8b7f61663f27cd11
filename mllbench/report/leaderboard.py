"""The leaderboard, rebuilt from result files: one row per configuration x tasks, plus the oracle.

Accuracy after reuse by default; with a ground-truth table, any of LOVM's
ranking metrics (``mllbench/ranking.py``) on each result's ``model_scores``.

A row is a configuration: method, every parameter and the selector plugin's
version. The newest result of a configuration replaces older ones (the notes
say so); different configurations never hide each other. Cells carry 95 %
percentile bootstrap intervals (``mllbench/stats.py``): accuracy resamples a
task's test images (results with per-image predictions, schema >= 2), a
ranking metric's average resamples the tasks. ★ marks a column's best row,
≈ a row whose paired sign-flip test against it gives p >= 0.05 — the same
test, with the same seed, that ``compare`` prints with its interval (the test
inverted), so a ≈ mark, ``compare`` and ``verify`` never disagree.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from mllbench.maths.ranking import LOWER_IS_BETTER, METRICS
from mllbench.maths.stats import (RESAMPLES, SEED, average_ranks, bootstrap, interval, paired, sign_flip_p,
                                  win_rates)
from mllbench.core.types import MllbenchError
from mllbench.pipeline.cost import images_gflops

MISSING = "–"
BEST, TIED = "★", "≈"
SIGNIFICANCE = 0.05


def load_results(results_dir: Path) -> list[dict]:
    """Every result JSON of a benchmark, oldest first (``created`` is in seconds; the file's
    modification time orders results of the same second); unreadable files are skipped."""
    results = []
    for path in sorted(results_dir.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
            written = path.stat().st_mtime_ns
        except (OSError, json.JSONDecodeError):
            continue
        data["_path"] = str(path)
        results.append((data.get("created", ""), written, data))
    return [data for *_, data in sorted(results, key=lambda x: x[:2])]


def configuration(result: dict) -> str:
    """A row's identity: the method, every parameter and the selector plugin's version."""
    return json.dumps([result["method"], result.get("params", {}), result.get("plugin_version", "?")],
                      sort_keys=True, default=str)


def newest_per_configuration(results: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """(kept, replaced): the newest result of each configuration, and the older ones it replaces.

    ``results`` oldest first, as ``load_results`` gives them.
    """
    newest = {configuration(r): r for r in results}
    kept = {id(r) for r in newest.values()}
    return list(newest.values()), [r for r in results if id(r) not in kept]


def row_label(result: dict, defaults: Mapping | None = None, every: bool = False) -> str:
    """``method (k=…, key=value…)``: k, then each parameter that differs from ``defaults`` (all with ``every``)."""
    params, defaults = result["params"], defaults or {}
    shown = [f"{key}={value}" for key, value in params.items()
             if key != "k" and (every or key not in defaults or defaults[key] != value)]
    k = params.get("k")
    return f"{result['method']} ({', '.join([f'k={k}', *shown])})"


def row_labels(results: Sequence[dict], defaults: Mapping[str, Mapping] | None = None,
               every: bool = False) -> list[str]:
    """A distinct label per configuration: where labels collide, the plugin version is appended
    when it tells them apart, else a short hash of the configuration."""
    defaults = defaults or {}
    labels = [row_label(r, defaults.get(r["method"]), every) for r in results]
    for label in {x for x in labels if labels.count(x) > 1}:
        members = [i for i, x in enumerate(labels) if x == label]
        versions = [results[i].get("plugin_version", "?") for i in members]
        for i, version in zip(members, versions):
            tag = (f"v{version}" if len(set(versions)) == len(versions)
                   else "#" + hashlib.sha256(configuration(results[i]).encode()).hexdigest()[:6])
            labels[i] = f"{label} [{tag}]"
    return labels


def task_outcomes(result: dict, task: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(1 where correct, the labels) per test image of a task; None for a result stored without
    per-image predictions (schema 1, table benchmarks) or without the task."""
    entry = result["tasks"].get(task) or {}
    if "predictions" not in entry or "labels" not in entry:
        return None
    labels = np.asarray(entry["labels"])
    return (np.asarray(entry["predictions"]) == labels).astype(np.float64), labels


def ranking_values(result: dict, tasks: Sequence[str], metric: str, truth: np.ndarray,
                   hub: Sequence[str]) -> list[float | None]:
    """A ranking metric per task; None where the result lacks scores, has another hub,
    or (L1) does not predict accuracy."""
    if list(result.get("hub", [])) != list(hub) or (metric == "l1" and not result.get("scores_are_accuracy")):
        return [None] * len(tasks)
    scores = [result["tasks"].get(t, {}).get("model_scores") for t in tasks]
    return [None if s is None else METRICS[metric](np.asarray(s), truth[:, j]) for j, s in enumerate(scores)]


# per row and column, what a paired test needs: per-group units, and what must be equal to pair them
Units = tuple[list[np.ndarray], list[np.ndarray]] | None


@dataclass
class Board:
    """A leaderboard's numbers; ``display``/``csv``/``notes`` turn them into text."""
    tasks: list[str]
    metric: str
    labels: list[str]
    results: list[dict]
    values: np.ndarray  # (rows, tasks + 1): the last column is the average; NaN where missing
    lo: np.ndarray  # same shape; NaN where there is no interval
    hi: np.ndarray
    marks: np.ndarray  # same shape: BEST, TIED or ""
    replaced: list[str] = field(default_factory=list)  # one label per older result replaced
    oracle: list[float | None] | None = None
    resamples: int = RESAMPLES
    seed: int = SEED

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER

    def display(self, digits: int = 4, sep: str = " ") -> tuple[list[str], list[list[str]]]:
        """Header and rows: ``value ± half-width mark`` per cell (``sep`` before the ±: a newline
        keeps a wide board on screen), the oracle last."""
        rows = [[label, r.get("plugin_version", "?"),
                 *(_cell(v, lo, hi, m, digits, sep) for v, lo, hi, m in zip(*cols))]
                for label, r, *cols in zip(self.labels, self.results, self.values, self.lo, self.hi, self.marks)]
        if self.oracle is not None:
            rows.append(["oracle (best single model)", "ground truth", *_cells(self.oracle, digits)])
        return ["method", "version", *self.tasks, "avg"], rows

    def csv(self, digits: int = 4) -> tuple[list[str], list[list[str]]]:
        """Numbers only: values, then ``<task>_lo``/``<task>_hi`` per column, then resamples and seed."""
        columns = [*self.tasks, "avg"]
        header = ["method", "version", *columns, *(f"{c}_{b}" for c in columns for b in ("lo", "hi")),
                  "resamples", "seed"]
        num = lambda v: "" if np.isnan(v) else f"{v:.{digits}f}"  # noqa: E731
        rows = [[label, r.get("plugin_version", "?"), *(MISSING if np.isnan(v) else num(v) for v in values),
                 *(num(x) for pair in zip(lo, hi) for x in pair), str(self.resamples), str(self.seed)]
                for label, r, values, lo, hi in zip(self.labels, self.results, self.values, self.lo, self.hi)]
        if self.oracle is not None:
            rows.append(["oracle (best single model)", "ground truth", *_cells(self.oracle, digits),
                         *[""] * (2 * len(columns)), "", ""])
        return header, rows

    def notes(self) -> list[str]:
        """The legend: how intervals and marks were made, and what was replaced."""
        units = ("each task's test images" if self.metric == "accuracy"
                 else "the tasks (the average only)")
        better = "highest" if self.higher_is_better else "lowest"
        lines = [f"± half the width of the 95% percentile bootstrap interval ({self.resamples} resamples of "
                 f"{units}, seed {self.seed}); csv: the bounds. {BEST} {better} in the column, "
                 f"{TIED} not significantly different from it (paired sign-flip test, p ≥ {SIGNIFICANCE}; "
                 "`mllbench compare` shows it with its interval)."]
        if self.metric == "accuracy" and any(np.isnan(lo[:-1]).all() and not np.isnan(v[:-1]).all()
                                             for lo, v in zip(self.lo, self.values)):
            lines.append("No ± or ≈: a result stored without per-image predictions (schema 1); rerun it.")
        if self.replaced:
            counts = {x: self.replaced.count(x) for x in self.replaced}
            n = len(self.replaced)
            lines.append(f"{n} older result{'s' if n > 1 else ''} of the same configuration replaced: "
                         + ", ".join(f"{label} ({c})" for label, c in counts.items()))
        return lines

    def ranks(self) -> tuple[list[str], list[list[str]]]:
        """Each row's rank per task (1 = best, ties share their mean rank) and the mean rank."""
        ranks = average_ranks(self.values[:, :-1], self.higher_is_better)
        rows = [[label, r.get("plugin_version", "?"), *_cells(
            [None if np.isnan(x) else float(x) for x in row], 2)]
            for label, r, row in zip(self.labels, self.results, ranks)]
        return ["method", "version", *self.tasks, "mean rank"], rows

    def win_rates(self) -> tuple[list[str], list[list[str]]]:
        """Row vs column: the fraction of shared tasks where the row's value is better (a tie is ½)."""
        rates = win_rates(self.values[:, :-1], self.higher_is_better)
        rows = [[label, *(MISSING if np.isnan(x) else f"{x:.2f}" for x in row)]
                for label, row in zip(self.labels, rates)]
        return ["method", *self.labels], rows


def board(results: Sequence[dict], tasks: Sequence[str], oracle: Mapping[str, float] | None = None,
          metric: str = "accuracy", truth: np.ndarray | None = None, hub: Sequence[str] = (),
          defaults: Mapping[str, Mapping] | None = None, every: bool = False,
          resamples: int = RESAMPLES, seed: int = SEED) -> Board:
    """One row per configuration (newest result wins), sorted by label, with intervals and marks.

    Averages are over all ``tasks`` and shown only when every task is present,
    so rows with different task sets are never silently compared. A ranking
    ``metric`` needs ``truth`` (n_models, n_tasks) for the ``hub`` model ids.
    ``defaults`` per method: parameters equal to them are left out of labels.
    """
    kept, replaced = newest_per_configuration(results)
    labels = row_labels(kept, defaults, every)
    order = sorted(range(len(kept)), key=labels.__getitem__)
    kept, labels = [kept[i] for i in order], [labels[i] for i in order]
    by_config = {configuration(r): label for r, label in zip(kept, labels)}
    n, m = len(kept), len(tasks) + 1
    values, lo, hi = np.full((n, m), np.nan), np.full((n, m), np.nan), np.full((n, m), np.nan)
    units: list[list[Units]] = []
    for i, r in enumerate(kept):
        row_units: list[Units] = [None] * m
        if metric == "accuracy":
            vals = [r["tasks"].get(t, {}).get("accuracy") for t in tasks]
            outcomes = [task_outcomes(r, t) for t in tasks]
            reps = bootstrap([o[0] if o else None for o in outcomes], resamples, seed)
            for j, o in enumerate(outcomes):
                lo[i, j], hi[i, j] = interval(reps[:, j])
                row_units[j] = None if o is None else ([o[0]], [o[1]])
            if all(o is not None for o in outcomes) and outcomes:
                lo[i, -1], hi[i, -1] = interval(reps.mean(1))
                row_units[-1] = ([o[0] for o in outcomes], [o[1] for o in outcomes])
        else:
            vals = ranking_values(r, tasks, metric, truth, hub)
            if vals and all(v is not None for v in vals):
                lo[i, -1], hi[i, -1] = interval(bootstrap([np.array(vals)], resamples, seed)[:, 0])
                row_units[-1] = ([np.array(vals)], [np.arange(len(vals))])
        values[i, :-1] = [np.nan if v is None else v for v in vals]
        if vals and all(v is not None for v in vals):
            values[i, -1] = float(np.mean(vals))
        units.append(row_units)
    marks = mark_best(values, units, metric not in LOWER_IS_BETTER, resamples, seed)
    return Board(list(tasks), metric, labels, kept, values, lo, hi, marks,
                 [by_config[configuration(r)] for r in replaced],
                 None if oracle is None else [oracle.get(t) for t in tasks], resamples, seed)


def mark_best(values: np.ndarray, units: Sequence[Sequence[Units]], higher_is_better: bool = True,
              resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """BEST on each column's best rows; TIED where the paired sign-flip test against the (first)
    best row gives p >= SIGNIFICANCE on the same units; "" elsewhere."""
    marks = np.full(values.shape, "", dtype=object)
    for c in range(values.shape[1]):
        column = values[:, c]
        if np.isnan(column).all():
            continue
        best = np.flatnonzero(column == (np.nanmax(column) if higher_is_better else np.nanmin(column)))
        marks[best, c] = BEST
        reference = units[best[0]][c]
        for r in np.flatnonzero(~np.isnan(column)):
            other = units[r][c]
            if marks[r, c] or reference is None or other is None or not _same(reference[1], other[1]):
                continue
            diffs = [a - b for a, b in zip(reference[0], other[0])]
            if sign_flip_p(diffs, resamples, seed) >= SIGNIFICANCE:
                marks[r, c] = TIED
    return marks


def _same(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def find_row(b: Board, name: str) -> int:
    """The row a user named: its label, or a method name with a single configuration."""
    if name in b.labels:
        return b.labels.index(name)
    matches = [i for i, r in enumerate(b.results) if r["method"] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise MllbenchError(f"method {name!r} has {len(matches)} configurations; name one: "
                            + "; ".join(repr(b.labels[i]) for i in matches))
    raise MllbenchError(f"no row or method {name!r}; rows: " + "; ".join(repr(x) for x in b.labels))


def compare(a: dict, b: dict, tasks: Sequence[str], names: tuple[str, str] = ("A", "B"),
            resamples: int = RESAMPLES, seed: int = SEED) -> list[dict]:
    """A − B per task both have, and on their average: one paired sign-flip test each (p and its inverted interval).

    Rows: {task, a, b, diff, lo, hi, p}, the average last. Both must hold
    per-image predictions on the same test images and labels.
    """
    shared = [t for t in tasks if t in a["tasks"] and t in b["tasks"]]
    if not shared:
        raise MllbenchError(f"{names[0]} and {names[1]} share no task")
    pairs = []
    for t in shared:
        x, y = task_outcomes(a, t), task_outcomes(b, t)
        for name, o in zip(names, (x, y)):
            if o is None:
                raise MllbenchError(f"{name} has no per-image predictions for task {t!r} "
                                    "(an older result or a table benchmark); rerun it to compare")
        if not np.array_equal(x[1], y[1]):
            raise MllbenchError(f"{names[0]} and {names[1]} were scored on different test images or labels "
                                f"of task {t!r}; rerun both on the same benchmark version")
        pairs.append((x[0], y[0]))
    rows = paired([p[0] for p in pairs], [p[1] for p in pairs], resamples, seed)
    means = [(float(x.mean()), float(y.mean())) for x, y in pairs]
    means.append(tuple(float(np.mean(v)) for v in zip(*means)))
    return [{"task": t, "a": ma, "b": mb, **row} for t, (ma, mb), row in zip([*shared, "average"], means, rows)]


def reuse_gflops(result: dict, tasks: Sequence[str], gflops: Mapping[str, float]) -> float | None:
    """The mean over ``tasks`` of the GFLOPs an image passes through: the sum over the models reused
    on the task (the union over its classes); None when a task or a model's cost is unknown."""
    used = [(result["tasks"].get(t) or {}).get("models_used") for t in tasks]
    return None if any(u is None for u in used) else images_gflops(used, gflops)


def _cell(value: float, lo: float, hi: float, mark: str, digits: int, sep: str = " ") -> str:
    if np.isnan(value):
        return MISSING
    text = f"{value:.{digits}f}"
    if not np.isnan(lo):
        text += f"{sep}± {(hi - lo) / 2:.{max(digits - 1, 1)}f}"
    return f"{text} {mark}" if mark else text


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
