"""Running a method: select on every task, reuse (Eqs. 8-10) or score the table, write one
versioned result JSON that records how it was made (parameters, plugin, hashes, environment)."""
from __future__ import annotations

import hashlib
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mllbench.contract.options import check_params
from mllbench.core.files import write_json
from mllbench.core.types import MllbenchError
from mllbench.core.version import __version__
from mllbench.host.benchmark import Benchmark
from mllbench.maths.reuse import DEFAULT_WEIGHTING, WEIGHTINGS
from mllbench.pipeline.session import Session, short_hash

RESULT_SCHEMA = 2  # 2: per-task "predictions" and "labels" per test image (leaderboard intervals)


def scores_are_accuracy(selector: Callable, params: dict) -> bool:
    """Whether a selector's scores predict accuracy (so L1 applies): ``params`` or its own say.

    A selector declares it with an attribute ``scores_are_accuracy(params) -> bool``.
    """
    if "scores_are_accuracy" in params:
        return bool(params["scores_are_accuracy"])
    declared = getattr(selector, "scores_are_accuracy", None)
    return bool(declared(params)) if declared else False


def check_selector_params(selector: Callable, params: dict) -> None:
    """A selector's own parameter checks, if it declares them as an attribute ``check_params(params)``."""
    declared = getattr(selector, "check_params", None)
    if declared:
        declared(params)


def benchmarkshort_hash(bench: Benchmark) -> str:
    """The definition's hash a result records, so results of another definition never mix
    (``mllbench results import`` checks it too). A table benchmark's results are functions of
    its table (the user's ``--lovm-dir`` copy or the pinned download), so its hash covers
    the table's contents as well: results made on another table are never merged."""
    definition = bench.path.read_text()
    table = bench.table
    if table is None:
        return short_hash(definition)
    arrays = {"accuracy": table.accuracy, **{f"feature:{k}": v for k, v in table.features.items()}}
    return short_hash([definition, list(table.models), list(table.tasks), table.target, table.source,
                  {name: hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes()).hexdigest()
                   for name, values in arrays.items()}])


def environment() -> dict:
    env = {"python": platform.python_version(), "platform": platform.platform(), "numpy": np.__version__}
    for name in ("torch", "open_clip"):
        module = sys.modules.get(name)
        if module is not None:
            env[name] = getattr(module, "__version__", "?")
    return env


def run_method(session: Session, method: str, tasks: Sequence[str], params: dict, k: int,
               logit_scale: float = 100.0, weighting: str = DEFAULT_WEIGHTING) -> tuple[dict, Path]:
    """Select + reuse + evaluate on ``tasks``; write one versioned result JSON.

    The reuse settings may also come in ``params`` (``-p weighting=entropy``): they are used,
    not only recorded, so a result's params always say how it was made.
    """
    bench = session.bench
    ids = [m["id"] for m in bench.models]
    params = dict(params)
    k, logit_scale, weighting = (params.pop(name, value) for name, value in
                                 (("k", k), ("logit_scale", logit_scale), ("weighting", weighting)))
    check_params({"k": k, "logit_scale": logit_scale}, len(ids))  # before any model runs
    if weighting not in WEIGHTINGS:
        raise MllbenchError(f"--weighting must be one of {', '.join(WEIGHTINGS)}; got {weighting!r}")
    check_selector_params(bench.host.get("selector", method), params)
    if bench.table is None:
        session.ensure(ids, tasks)  # labels are the hub's, made once whatever the selector
    elif k != 1:
        raise MllbenchError(f"benchmark {bench.name!r} is a table with no images to ensemble on; use --k 1")
    started, per_task = time.perf_counter(), {}
    session.prepare(method, tasks, params)
    for task in tasks:
        t0 = time.perf_counter()
        scores = session.select(method, task, params)
        t1 = time.perf_counter()
        per_task[task] = (session.reuse(task, scores, k, logit_scale, weighting) if bench.table is None
                          else session.top_model(task, scores))
        per_task[task]["model_scores"] = scores.mean(1).tolist()  # the task's model ranking, aligned with hub
        per_task[task]["timing_s"] = {"select": round(t1 - t0, 4), "reuse": round(time.perf_counter() - t1, 4)}
    host = bench.host
    plugin = host.origins.get(("selector", method), "?")
    record = next((p for p in host.plugins if p.name == plugin), None)
    settings = {"k": k, "logit_scale": logit_scale, "weighting": weighting, **params,
                "captioner": session.captioner, "embedder": session.embedder}
    result = {
        "schema": RESULT_SCHEMA, "mllbench_version": __version__,
        "benchmark": bench.name, "benchmark_hash": benchmarkshort_hash(bench),
        "graph_hash": session.graph().hash if bench.table is None else None,
        "method": method, "plugin": plugin,
        "plugin_distribution": record.distribution if record else "?",
        "plugin_version": record.version if record else "?",
        "params": settings, "hub": ids, "tasks": per_task,
        "scores_are_accuracy": scores_are_accuracy(host.get("selector", method), params),
        "average": float(np.mean([r["accuracy"] for r in per_task.values()])),
        "environment": environment(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    path = session.store.results_dir(bench.name) / method / f"k{k}-{short_hash(settings)}-{short_hash(sorted(tasks))}.json"
    write_json(path, result)
    return result, path
