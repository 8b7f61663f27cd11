"""PNG charts for the experiments (matplotlib, optional extra ``plots``).

matplotlib is imported here only, on first use, with the Agg backend: the
CLI must start fast and run on machines without a display.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from mllbench.core.types import MllbenchError


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise MllbenchError("plots need matplotlib: pip install 'mllbench[plots]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def line_chart(path: Path, x: Sequence[float], y: np.ndarray, xlabel: str, ylabel: str, title: str,
               band: tuple[np.ndarray, np.ndarray] | None = None,
               right: tuple[str, np.ndarray] | None = None,
               more: Sequence[tuple[str, np.ndarray]] = ()) -> Path:
    """One curve, an optional shaded band around it, an optional right-axis curve, and ``more``
    (label, values) curves on the left axis (then with a legend)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, y, marker="o", color="C0", label=ylabel)
    if band is not None:
        ax.fill_between(x, band[0], band[1], color="C0", alpha=0.2)
    for i, (label, values) in enumerate(more, start=2):
        ax.plot(x, values, marker="^", color=f"C{i}", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if more:
        ax.legend(fontsize=8)
    if right is not None:
        twin = ax.twinx()
        twin.plot(x, right[1], marker="s", color="C1", label=right[0])
        twin.set_ylabel(right[0], color="C1")
    return _save(fig, path)


def spider_chart(path: Path, panels: Sequence[tuple[str, Sequence[str], Mapping[str, np.ndarray]]]) -> Path:
    """Radar panels side by side: (title, axis names, {series name: values}) each."""
    plt = _pyplot()
    fig = plt.figure(figsize=(7 * len(panels), 7))
    for i, (title, axes, series) in enumerate(panels, start=1):
        angles = np.linspace(0, 2 * np.pi, len(axes), endpoint=False)
        closed = np.append(angles, angles[0])
        ax = fig.add_subplot(1, len(panels), i, projection="polar")
        for j, (name, values) in enumerate(series.items()):
            values = np.nan_to_num(np.asarray(values, dtype=np.float64))
            ax.plot(closed, np.append(values, values[0]), color=f"C{j % 10}", linewidth=1.2, label=name)
        ax.set_xticks(angles, axes, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(title, pad=18)
    fig.axes[0].legend(loc="upper left", bbox_to_anchor=(-0.25, 1.12), fontsize=7)
    return _save(fig, path)


def pareto_chart(path: Path, points: Sequence[tuple[str, float, float, float, float, bool]], xlabel: str,
                 ylabel: str, title: str) -> Path:
    """(label, cost, value, lo, hi, on the front) points with error bars; the front joined by a
    step line (the best value at each cost) and its points labelled."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for on_front, color, name in ((False, "C7", "dominated"), (True, "C3", "Pareto front")):
        chosen = [p for p in points if p[5] == on_front]
        if chosen:
            x, y, lo, hi = (np.array([p[i] for p in chosen]) for i in (1, 2, 3, 4))
            ax.errorbar(x, y, yerr=[np.nan_to_num(y - lo), np.nan_to_num(hi - y)], fmt="o", color=color,
                        capsize=3, label=name)
    front = sorted((p for p in points if p[5]), key=lambda p: p[1])
    ax.step([p[1] for p in front], [p[2] for p in front], where="post", color="C3", alpha=0.6)
    for label, x, y, *_ in front:
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
