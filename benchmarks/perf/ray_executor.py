"""Labeling the embedded benchmark's hub: the local executor vs Ray workers, in one run.

Both label all hub models into fresh registries (the graph is built first
and not timed). The Ray figure is given with and without Ray's start-up
(``ray.init`` of a local cluster; the actors' start-up, which imports torch
and loads the benchmark in each worker, is part of the run), and the two
registries are checked to be bitwise equal.

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

from mllbench.executors import RayExecutor, import_ray
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
    with tempfile.TemporaryDirectory() as tmp:
        stores = {name: Store(Path(tmp) / name) for name in ("local", "ray")}
        for store in stores.values():
            save_graph(store, graph)
        session.store = stores["local"]
        _, local_s = timed(lambda: session.ensure(ids, []))

        ray = import_ray()
        _, init_s = timed(lambda: ray.init(num_cpus=n_workers, include_dashboard=False,
                                           logging_level=logging.WARNING, log_to_driver=False))
        session.store, session.executor = stores["ray"], RayExecutor(workers=n_workers)
        try:
            _, ray_s = timed(lambda: session.ensure(ids, []))
        finally:
            session.executor.close()
            ray.shutdown()
        equal = same_labels(stores["local"], stores["ray"], ids)
    work = f"{len(ids)} models x ({len(graph.image_refs)} images + {len(graph.captions)} captions)"
    report(f"labeling the embedded hub, {work}: local vs {n_workers} Ray workers", [
        ("local executor (one process, one model at a time)", f"{local_s:.1f} s"),
        (f"ray executor, {n_workers} workers, incl. ray.init ({init_s:.1f} s)",
         f"{init_s + ray_s:.1f} s  (speed-up {local_s / (init_s + ray_s):.2f}x)"),
        (f"ray executor, {n_workers} workers, cluster already up", f"{ray_s:.1f} s  (speed-up {local_s / ray_s:.2f}x)"),
        ("labels bitwise equal", str(equal)),
    ])


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
