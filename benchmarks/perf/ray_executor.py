"""Labeling the embedded benchmark's hub: the local executor vs Ray workers, in one run.

All label all hub models into fresh registries (the graph is built first
and not timed). Ray runs twice: with the workers' default torch thread
count (this process's, so the floats are the local executor's) and with one
thread per worker (Ray's one CPU each, no oversubscription). Each figure is
given with and without Ray's start-up (``ray.init`` of a local cluster; the
actors' start-up, which imports torch and loads the benchmark in each
worker, is part of the run), and each registry is compared bitwise with the
local one.

    python benchmarks/perf/ray_executor.py [n_workers]

Run it with mllbench installed editable or from outside the source checkout
(Ray puts the driver's working directory on its workers' import path).
"""
from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from common import open_session, report, timed

from mllbench.pipeline.executors import RayExecutor, import_ray, local_threads
from mllbench.registry.store import Store, save_graph


def same_labels(a: Store, b: Store, ids: list[str]) -> bool:
    for m in ids:
        with h5py.File(a.label_path(m)) as x, h5py.File(b.label_path(m)) as y:
            if not all(np.array_equal(x[k][:], y[k][:]) for k in ("image_emb", "caption_emb")):
                return False
    return True


def main(n_workers: int = 2) -> None:
    session = open_session()
    graph = session.graph()
    ids = [m["id"] for m in session.bench.models]
    runs = {"ray": {}, "ray-1-thread": {"threads": 1}}  # default: this process's torch threads
    with tempfile.TemporaryDirectory() as tmp:
        stores = {name: Store(Path(tmp) / name) for name in ("local", *runs)}
        for store in stores.values():
            save_graph(store, graph)
        session.store = stores["local"]
        _, local_s = timed(lambda: session.ensure(ids, []))

        ray = import_ray()
        _, init_s = timed(lambda: ray.init(num_cpus=n_workers, include_dashboard=False,
                                           logging_level=logging.ERROR, log_to_driver=False))
        seconds, equal = {}, {}
        try:
            for name, options in runs.items():
                session.store, session.executor = stores[name], RayExecutor(workers=n_workers, **options)
                _, seconds[name] = timed(lambda: session.ensure(ids, []))
                session.executor.close()
                equal[name] = same_labels(stores["local"], stores[name], ids)
        finally:
            ray.shutdown()
    work = f"{len(ids)} models x ({len(graph.image_refs)} images + {len(graph.captions)} captions)"
    threads = local_threads()
    rows = [(f"local executor (one process, {threads} torch threads)", f"{local_s:.1f} s")]
    for name, label in (("ray", f"{threads} torch threads each (default: bitwise)"),
                        ("ray-1-thread", "1 torch thread each (--worker-threads 1)")):
        rows += [(f"ray, {n_workers} workers x {label}, incl. ray.init ({init_s:.1f} s)",
                  f"{init_s + seconds[name]:.1f} s  (speed-up {local_s / (init_s + seconds[name]):.2f}x)"),
                 (f"ray, {n_workers} workers x {label}, cluster up",
                  f"{seconds[name]:.1f} s  (speed-up {local_s / seconds[name]:.2f}x; labels bitwise equal: "
                  f"{equal[name]})")]
    report(f"labeling the embedded hub, {work}: local vs {n_workers} Ray workers", rows)


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
