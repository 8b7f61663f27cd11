"""``mllbench report``: the leaderboard as a static HTML site that opens from file://.

Why static: results can be browsed, mailed and archived without mllbench, a
server or a network. Nothing is recomputed differently: the table's cells,
intervals and ★/≈ marks are ``leaderboard.Board``'s (the code behind
``mllbench leaderboard``), the ground truth is ``pipeline.truth.cached_truth``:
what the registry caches (a report never runs a model), the experiments'
plots are the PNGs ``mllbench experiment`` wrote. Charts are SVG written
here; the one script (column sorting) and the style sheet ship in
``mllbench/data/report/``. Every string from a result or a definition is
HTML-escaped.
"""
from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from mllbench.report.leaderboard import BEST, MISSING, TIED, Board
from mllbench.core.types import MllbenchError

ASSETS = ("report.css", "report.js")
MARKER = ".mllbench-report"  # marks a folder this command wrote, so a rerun may replace it
NEXT_RUN = "run `mllbench run --method mll --tasks all` first"


@dataclass
class Page:
    """What the page shows; ``board`` None: no results, ``truth`` None: ``truth_note`` says why."""

    benchmark: str
    description: str
    registry: Path
    models: list[str]
    tasks: list[str]
    board: Board | None
    truth: np.ndarray | None
    truth_note: str
    experiments: Path


def experiment_files(folder: Path) -> list[Path]:
    """The PNG plots and CSV tables ``mllbench experiment`` wrote to ``folder``, by name."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.suffix in (".png", ".csv") and p.is_file()),
                  key=lambda p: (p.stem, p.suffix != ".png"))


def render(page: Page) -> str:
    """The whole index.html."""
    b = page.board
    truth = (heatmap(page.models, page.tasks, page.truth) if page.truth is not None
             else f"<p class=\"empty\">No ground truth: {escape(page.truth_note)}.</p>")
    if b is None:
        sections = [("leaderboard", "Leaderboard", f"<p class=\"empty\">No results for benchmark "
                     f"{escape(page.benchmark)} in <code>{escape(str(page.registry))}</code>: {escape(NEXT_RUN)}.</p>")]
    else:
        sections = [("leaderboard", "Leaderboard", leaderboard_table(b)
                     + "".join(f"<p class=\"note\">{escape(n)}</p>" for n in b.notes())),
                    ("tasks", "Per task", "<div class=\"charts\">"
                     + "".join(bar_chart(b, c) for c in range(len(b.tasks) + 1)) + "</div>")]
    sections.append(("truth", "Ground truth: every hub model on every task", truth))
    files = experiment_files(page.experiments)
    if files:
        sections.append(("experiments", "Experiments", experiments(files, page.experiments)))
    if b is not None:
        sections.append(("results", "Results: parameters and provenance", provenance(b, page.registry)))
    nav = " · ".join(f"<a href=\"#{key}\">{escape(title.split(':')[0])}</a>" for key, title, _ in sections)
    body = "".join(f"<section id=\"{key}\"><h2>{escape(title)}</h2>{html}</section>" for key, title, html in sections)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>mllbench report: {escape(page.benchmark)}</title>"
            f"<link rel=\"stylesheet\" href=\"report.css\"></head><body>"
            f"<header><h1>mllbench report: {escape(page.benchmark)}</h1>"
            f"<p>{escape(page.description)}</p><p class=\"meta\">{len(page.models)} models, "
            f"{len(page.tasks)} target tasks · registry <code>{escape(str(page.registry))}</code> · "
            f"written {generated}</p><nav>{nav}</nav></header><main>{body}</main>"
            f"<script src=\"report.js\"></script></body></html>\n")


def leaderboard_table(b: Board) -> str:
    """``Board.display``'s cells (what ``leaderboard`` prints; ± on a line of its own, as on
    screen); ``Board.csv``'s numbers in data-v/data-lo/data-hi, which sorting reads. The oracle
    row stays last, in the footer."""
    header, shown = b.display(sep="\n")
    _, numbers = b.csv()
    n = len(b.tasks) + 1
    head = "".join(f"<th scope=\"col\" data-type=\"{'text' if i < 2 else 'number'}\">{escape(h)}</th>"
                   for i, h in enumerate(header))
    rows = []
    for cells, nums in zip(shown, numbers):
        tds = [f"<th scope=\"row\">{escape(cells[0])}</th><td>{escape(cells[1])}</td>"]
        for j in range(n):
            value = "" if nums[2 + j] == MISSING else nums[2 + j]
            lo, hi = nums[2 + n + 2 * j: 4 + n + 2 * j]
            tds.append(f"<td data-v=\"{value}\" data-lo=\"{lo}\" data-hi=\"{hi}\">{marked(cells[2 + j])}</td>")
        rows.append("".join(tds))
    oracle = rows.pop() if b.oracle is not None else None
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    foot = f"<tfoot><tr class=\"oracle\">{oracle}</tr></tfoot>" if oracle else ""
    return (f"<div class=\"scroll\"><table id=\"board\" class=\"sortable\"><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody>{foot}</table></div>"
            "<p class=\"note\">Click a column's header to sort by it (again to reverse).</p>")


def marked(cell: str) -> str:
    """A display cell with its ★/≈ mark in a span of its own (styled, same text)."""
    for mark, name in ((BEST, "best"), (TIED, "tied")):
        if cell.endswith(f" {mark}"):
            return f"{escape(cell[:-2])} <span class=\"mark {name}\">{mark}</span>"
    return escape(cell)


# bar charts: label column, bar area (0 to 1), value text, in px
LABEL_W, BAR_W, TEXT_W, ROW_H, TOP = 190, 250, 100, 22, 26


def bar_chart(b: Board, column: int) -> str:
    """One column of the board: a bar per row with its 95 % interval as an error bar, the
    oracle (best single model) as a dashed line."""
    title = b.tasks[column] if column < len(b.tasks) else "average over tasks"
    oracle = None
    if b.oracle is not None:
        oracle = b.oracle[column] if column < len(b.tasks) else (
            None if any(v is None for v in b.oracle) else float(np.mean(b.oracle)))
    height = TOP + ROW_H * len(b.labels) + 18
    x = lambda v: LABEL_W + BAR_W * min(max(v, 0.0), 1.0)  # noqa: E731
    parts = [f"<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {LABEL_W + BAR_W + TEXT_W} {height}\" "
             f"width=\"{LABEL_W + BAR_W + TEXT_W}\" height=\"{height}\"><title>{escape(title)}: {b.metric} per row"
             f" with 95% intervals</title><text class=\"title\" x=\"{LABEL_W}\" y=\"15\">{escape(title)}</text>"]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f"<line class=\"grid\" x1=\"{x(tick)}\" x2=\"{x(tick)}\" y1=\"{TOP - 4}\" y2=\"{height - 16}\"/>"
                     f"<text class=\"tick\" x=\"{x(tick)}\" y=\"{height - 4}\">{tick:g}</text>")
    for i, label in enumerate(b.labels):
        y = TOP + ROW_H * i
        v, lo, hi, mark = b.values[i, column], b.lo[i, column], b.hi[i, column], b.marks[i, column]
        parts.append(f"<text class=\"label\" x=\"{LABEL_W - 6}\" y=\"{y + 15}\">{escape(short(label))}"
                     f"<title>{escape(label)}</title></text>")
        if np.isnan(v):
            parts.append(f"<text class=\"value\" x=\"{LABEL_W + 4}\" y=\"{y + 15}\">{MISSING}</text>")
            continue
        span = "" if np.isnan(lo) else f" [{lo:.4f}, {hi:.4f}]"
        parts.append(f"<rect class=\"bar{' best' if mark == BEST else ''}\" x=\"{LABEL_W}\" y=\"{y + 4}\" "
                     f"width=\"{x(v) - LABEL_W:.1f}\" height=\"{ROW_H - 8}\"><title>{escape(label)}: "
                     f"{v:.4f}{span}</title></rect>")
        if not np.isnan(lo):
            mid = y + ROW_H / 2
            parts.append(f"<path class=\"err\" d=\"M{x(lo):.1f} {mid}H{x(hi):.1f}M{x(lo):.1f} {mid - 5}v10"
                         f"M{x(hi):.1f} {mid - 5}v10\"/>")
        parts.append(f"<text class=\"value\" x=\"{LABEL_W + BAR_W + 6}\" y=\"{y + 15}\">{v:.4f}"
                     f"{' ' + mark if mark else ''}</text>")
    if oracle is not None:
        parts.append(f"<line class=\"oracle\" x1=\"{x(oracle):.1f}\" x2=\"{x(oracle):.1f}\" y1=\"{TOP - 4}\" "
                     f"y2=\"{height - 16}\"><title>oracle (best single model): {oracle:.4f}</title></line>")
    return "".join(parts) + "</svg>"


def short(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


CELL_W, CELL_H, HEAD_H = 54, 20, 96


def heatmap(models: Sequence[str], tasks: Sequence[str], truth: np.ndarray) -> str:
    """Models × tasks (and their average), shaded by accuracy; each task's best model outlined."""
    columns = [*tasks, "avg"]
    values = np.column_stack([truth, truth.mean(1)])
    left = min(300, 12 + 7 * max(len(m) for m in models))
    width, height = left + CELL_W * len(columns) + 10, HEAD_H + CELL_H * len(models) + 4
    parts = [f"<svg class=\"heatmap\" role=\"img\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" "
             f"height=\"{height}\"><title>zero-shot accuracy of every hub model on every task</title>"]
    for j, task in enumerate(columns):
        cx = left + CELL_W * j + CELL_W / 2
        parts.append(f"<text class=\"head\" transform=\"translate({cx} {HEAD_H - 6}) rotate(-40)\">"
                     f"{escape(short(task, 18))}<title>{escape(task)}</title></text>")
    for i, model in enumerate(models):
        y = HEAD_H + CELL_H * i
        parts.append(f"<text class=\"label\" x=\"{left - 6}\" y=\"{y + 14}\">{escape(short(model, 40))}"
                     f"<title>{escape(model)}</title></text>")
        for j, task in enumerate(columns):
            v = float(values[i, j])
            best = ' class="best"' if v == values[:, j].max() else ""
            parts.append(f"<g><rect x=\"{left + CELL_W * j}\" y=\"{y}\" width=\"{CELL_W}\" height=\"{CELL_H}\" "
                         f"fill=\"{shade(v)}\"{best}><title>{escape(model)} on "
                         f"{escape(task)}: {v:.4f}</title></rect><text class=\"cell{' dark' if v > 0.55 else ''}\" "
                         f"x=\"{left + CELL_W * j + CELL_W / 2}\" y=\"{y + 14}\">{v:.2f}</text></g>")
    return (f"<div class=\"scroll\">{''.join(parts)}</svg></div><p class=\"note\">Zero-shot top-1 accuracy "
            "(the leaderboard's ground truth; its oracle row is each column's best, outlined).</p>")


def shade(v: float) -> str:
    """White (0) to dark blue (1)."""
    v = min(max(v, 0.0), 1.0)
    low, high = np.array([247, 251, 255]), np.array([8, 48, 107])
    return "#" + "".join(f"{int(round(c)):02x}" for c in low + (high - low) * v)


def experiments(files: Sequence[Path], folder: Path) -> str:
    """The experiments' plots (copied beside index.html) and their tables."""
    parts = [f"<p class=\"note\">Written by <code>mllbench experiment …</code> to <code>{escape(str(folder))}"
             "</code>.</p>"]
    for path in files:
        if path.suffix == ".png":
            parts.append(f"<figure><img src=\"experiments/{escape(path.name)}\" alt=\"{escape(path.stem)} plot\">"
                         f"<figcaption>{escape(path.name)}</figcaption></figure>")
            continue
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            continue
        head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
        parts.append(f"<div class=\"scroll\"><table class=\"experiment\"><caption>{escape(path.name)}</caption>"
                     f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
    return "".join(parts)


def provenance(b: Board, registry: Path) -> str:
    """Per row: every parameter, the plugin and its version, hashes, environment, dates, file."""
    out = []
    for label, r in zip(b.labels, b.results):
        path = Path(r.get("_path", "?"))
        fields = [
            ("method", r.get("method")),
            ("plugin", f"{r.get('plugin', '?')} ({r.get('plugin_distribution', '?')} {r.get('plugin_version', '?')})"),
            ("parameters", ", ".join(f"{k}={v}" for k, v in r.get("params", {}).items())),
            ("benchmark", f"{r.get('benchmark', '?')} (definition hash {r.get('benchmark_hash', '?')})"),
            ("graph hash", r.get("graph_hash") or "none (a table benchmark)"),
            ("mllbench", f"{r.get('mllbench_version', '?')}, result schema {r.get('schema', 1)}"),
            ("environment", ", ".join(f"{k} {v}" for k, v in r.get("environment", {}).items()) or "?"),
            ("created", f"{r.get('created', '?')}, {r.get('elapsed_s', '?')} s"),
            ("file", path.relative_to(registry) if path.is_relative_to(registry) else path),
        ]
        fields += [("imported", f"from {hop.get('file', '?')} at {hop.get('at', '?')}")
                   for hop in r.get("imported", [])]
        fields += [(f"models reused: {task}", ", ".join(entry.get("models_used", [])) or "?")
                   for task, entry in r.get("tasks", {}).items()]
        rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in fields)
        out.append(f"<details><summary>{escape(label)} <span class=\"meta\">{escape(str(r.get('created', '')))}"
                   f"</span></summary><dl>{rows}</dl></details>")
    return "".join(out)


def write_site(out: Path, page: str, images: Sequence[Path]) -> Path:
    """index.html, the assets and the experiments' PNGs, built in a folder beside ``out`` and
    renamed into place, so a reader never meets half a report. ``out`` must be new, empty, or
    a folder an earlier report wrote (it is replaced)."""
    out = out.absolute()  # `--out .` has a name to build beside
    if out.exists() and not out.is_dir():
        raise MllbenchError(f"--out {out} is a file; name a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise MllbenchError(f"--out {out} holds files `mllbench report` did not write; name a new or empty folder")
    tmp, old = out.with_name(f".{out.name}.{os.getpid()}.tmp"), out.with_name(f".{out.name}.{os.getpid()}.old")
    try:
        tmp.mkdir(parents=True)
        (tmp / "index.html").write_text(page, encoding="utf-8")
        for name in ASSETS:
            (tmp / name).write_bytes(resources.files("mllbench").joinpath("data", "report", name).read_bytes())
        if images:
            (tmp / "experiments").mkdir()
            for image in images:
                shutil.copyfile(image, tmp / "experiments" / image.name)
        (tmp / MARKER).write_text("written by `mllbench report`; a rerun replaces this folder\n")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out / "index.html"
