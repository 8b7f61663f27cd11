"""Shared set-up for the performance benchmarks (not tests: they print figures).

Each script opens the benchmark the CLI would (``--benchmark``/``--registry``
defaults, the embedded one and its registry), measures the path mllbench
takes and the naive alternative in the same run, and prints both with their
ratio.
"""
from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable, Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mllbench.cli.main import State  # noqa: E402
from mllbench.pipeline.evaluate import zero_shot  # noqa: E402
from mllbench.pipeline.session import Session  # noqa: E402


def open_session(benchmark: str = os.environ.get("MLLBENCH_BENCHMARK", "embedded")) -> Session:
    """A fresh session on the benchmark's registry, as `mllbench` would open it."""
    return State(benchmark, os.environ.get("MLLBENCH_REGISTRY"), True, {}).session


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and its wall time in seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def model_task_seconds(session: Session, tasks: Sequence[str]) -> np.ndarray:
    """(n_models, n_tasks) wall seconds to run each model on each task's images, load included.

    The brute-force alternative to selection: nothing is read from the
    prediction cache. A model's load time is split over its tasks.
    """
    ids = [m["id"] for m in session.bench.models]
    out = np.empty((len(ids), len(tasks)))
    for i, model_id in enumerate(ids):
        session.release_model()
        model, load = timed(lambda: session.model(model_id))
        for j, task in enumerate(tasks):
            _, out[i, j] = timed(lambda: zero_shot(model, session.bench.dataset(task), session.batch_size))
        out[i] += load / len(tasks)
    session.release_model()
    return out


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def report(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """Print a figure block: title, then aligned name/value lines."""
    print(f"\n## {title}  ({machine()})")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
