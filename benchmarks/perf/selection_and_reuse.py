"""Selection cost, scoring from cache, and reuse inference cost for k = 1..6.

The naive alternative throughout is running hub models on the task's
images: every model to choose by brute force, the reused models to score
without the prediction cache. Those run times are measured once here, per
model and task, and the three figures are read against them.

    python benchmarks/perf/selection_and_reuse.py
"""
from __future__ import annotations

import numpy as np

from common import model_task_seconds, open_session, report, timed

from mllbench.report.experiments import KS, ReuseOptions, class_precision_by_task, reuse_accuracy
from mllbench.maths.mll import reuse_metric
from mllbench.pipeline.run import run_method


def main() -> None:
    session = open_session()
    bench = session.bench
    tasks = [t["name"] for t in bench.targets]
    ids = [m["id"] for m in bench.models]
    session.ensure(ids, tasks)  # labels and predictions exist: nothing below reads a stale cache

    fresh = open_session()  # a cold session: label files not yet open
    _, select_s = timed(lambda: [fresh.select("mll", t, {"alpha": 0.7}) for t in tasks])
    run_s = model_task_seconds(session, tasks)
    brute_s = run_s.sum()
    report(f"selection cost: MLL on {len(tasks)} tasks vs every model on every task", [
        ("MLL selection from the registry", f"{select_s:.2f} s"),
        (f"brute force ({len(ids)} models run on each task)", f"{brute_s:.1f} s"),
        ("ratio brute force / MLL", f"{brute_s / select_s:.0f}x"),
    ])

    cold = open_session()
    result, score_s = timed(lambda: run_method(cold, "mll", tasks, {"alpha": 0.7}, 1)[0])
    used = {t: [ids.index(m) for m in r["models_used"]] for t, r in result["tasks"].items()}
    rerun_s = sum(run_s[used[t], j].sum() for j, t in enumerate(tasks))
    report("scoring a selector on all tasks from cached predictions (`mllbench run`, registry warm)", [
        ("select + reuse + evaluate, from cache", f"{score_s:.2f} s"),
        ("running the reused models instead", f"{rerun_s:.1f} s"),
        ("ratio", f"{rerun_s / score_s:.0f}x"),
    ])

    scores = {t: reuse_metric(p, 0.7) for t, p in class_precision_by_task(session, tasks, {}).items()}
    rows = []
    base = None
    for k in KS:
        runs = reuse_accuracy(session, tasks, scores, k, ReuseOptions())
        cost = sum(run_s[[ids.index(m) for m in r["models_used"]], j].sum() for j, r in enumerate(runs))
        models = sum(len(r["models_used"]) for r in runs)
        base = base or (cost, models)
        rows.append((f"k = {k}", f"{cost:6.1f} s  time x{cost / base[0]:.3f}   models run x{models / base[1]:.3f}   "
                                 f"acc {np.mean([r['accuracy'] for r in runs]):.4f}"))
    rows.append(("all models (brute force)", f"{brute_s:6.1f} s  time x{brute_s / base[0]:.3f}"))
    report("reuse inference cost per k, relative to k = 1 (paper Table 4, 'Interface Time Cost')", rows)


if __name__ == "__main__":
    main()
