"""Running a method: select on every task, reuse (Eqs. 8-10) or score the table, write one
versioned result JSON that records how it was made (parameters, plugin, hashes, environment)."""
from __future__ import annotations

import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mllbench.contract.options import ReuseSettings
from mllbench.contract.selector import Selector
from mllbench.core.files import write_json
from mllbench.core.version import __version__
from mllbench.maths.reuse import DEFAULT_LOGIT_SCALE, DEFAULT_WEIGHTING
from mllbench.pipeline.cost import images_gflops, model_gflops
from mllbench.host.benchmark import short_hash
from mllbench.pipeline.session import Session
from mllbench.registry.store import open_checked

if TYPE_CHECKING:
    from mllbench.host.benchmark import Benchmark

RESULT_SCHEMA = 2  # 2: per-task "predictions" and "labels" per test image (leaderboard intervals)


def scores_are_accuracy(selector: Selector, params: dict) -> bool:
    """Whether a selector's scores predict accuracy (so L1 applies): ``params`` or its own say."""
    if "scores_are_accuracy" in params:
        return bool(params["scores_are_accuracy"])
    return bool(selector.scores_are_accuracy(params))


def check_selection(bench: Benchmark, method: str, params: dict, k: int = 1,
                    logit_scale: float = DEFAULT_LOGIT_SCALE,
                    weighting: str = DEFAULT_WEIGHTING) -> tuple[Selector, ReuseSettings, dict]:
    """The selector, the reuse settings and the selector's params, every value checked against
    its declaration before any model runs (``run_method``, ``Hub.select`` and the CLI call
    this). Reuse settings may come in ``params`` too (``-p weighting=entropy``) and win there."""
    hub = len(bench.models)
    reuse, params = ReuseSettings.take(params, hub, k=k, logit_scale=logit_scale, weighting=weighting)
    selector = bench.host.selector(method)
    selector.check(params, hub)
    return selector, reuse, params


def environment() -> dict:
    env = {"python": platform.python_version(), "platform": platform.platform(), "numpy": np.__version__}
    for name in ("torch", "open_clip"):
        module = sys.modules.get(name)
        if module is not None:
            env[name] = getattr(module, "__version__", "?")
    return env


def provenance(session: Session, ids: Sequence[str], tasks: Sequence[str]) -> tuple[dict, dict]:
    """How the stored vectors a result read were made: each label's fingerprint (None for a label
    made before fingerprints), and per task the images left out as unreadable (the first hub
    model's predictions list them; every model reads the same images)."""
    fingerprints = {}
    for model_id in ids:
        path = session.store.label_path(model_id)
        if path.exists():
            with open_checked(path, f"label of {model_id}") as f:
                made = f.attrs.get("fingerprint") or ""
                fingerprints[model_id] = json.loads(made) if made else None
    unreadable = {task: len(session.store.prediction_record(task, ids[0]).get("unreadable", [])) if ids else 0
                  for task in tasks}
    return fingerprints, unreadable


def run_method(session: Session, method: str, tasks: Sequence[str], params: dict, k: int,
               logit_scale: float = DEFAULT_LOGIT_SCALE, weighting: str = DEFAULT_WEIGHTING) -> tuple[dict, Path]:
    """Select + reuse + evaluate on ``tasks``; write one versioned result JSON.

    The reuse settings may also come in ``params`` (``-p weighting=entropy``): they are used,
    not only recorded, so a result's params always say how it was made.
    """
    bench = session.bench
    ids = [m["id"] for m in bench.models]
    selector, reuse, params = check_selection(bench, method, params, k, logit_scale, weighting)  # before any model
    k, logit_scale, weighting = reuse.k, reuse.logit_scale, reuse.weighting
    bench.check_reuse(k)
    bench.before_selection(session, ids, tasks)  # an image benchmark's labels and predictions
    started, per_task, gflops = time.perf_counter(), {}, model_gflops(bench.models)
    session.prepare(method, tasks, params)
    for task in tasks:
        t0 = time.perf_counter()
        scores = session.select(method, task, params)
        t1 = time.perf_counter()
        per_task[task] = bench.outcome(session, task, scores, k, logit_scale, weighting)  # reuse, or the table's
        per_task[task]["model_scores"] = scores.mean(1).tolist()  # the task's model ranking, aligned with hub
        # what reusing costs: GFLOPs per image of the models an image passes through (None: a cost unknown)
        per_task[task]["reuse_gflops"] = images_gflops([per_task[task]["models_used"]], gflops)
        per_task[task]["timing_s"] = {"select": round(t1 - t0, 4), "reuse": round(time.perf_counter() - t1, 4)}
    fingerprints, unreadable = provenance(session, ids, tasks)
    for task in tasks:
        per_task[task]["unreadable_images"] = unreadable[task]
    host = bench.host
    plugin = host.origins.get(("selector", method), "?")
    record = next((p for p in host.plugins if p.name == plugin), None)
    settings = {**reuse.as_params(), **params,
                "captioner": session.captioner, "embedder": session.embedder}
    result = {
        "schema": RESULT_SCHEMA, "mllbench_version": __version__,
        "benchmark": bench.name, "benchmark_hash": bench.content_hash(),
        "graph_hash": bench.graph_hash(session),
        "method": method, "plugin": plugin,
        "plugin_distribution": record.distribution if record else "?",
        "plugin_version": record.version if record else "?",
        "params": settings, "hub": ids, "tasks": per_task, "fingerprints": fingerprints,
        "scores_are_accuracy": scores_are_accuracy(selector, params),
        "average": float(np.mean([r["accuracy"] for r in per_task.values()])),
        "environment": environment(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    path = session.store.results_dir(bench.name) / method / f"k{k}-{short_hash(settings)}-{short_hash(sorted(tasks))}.json"
    write_json(path, result)
    return result, path
