"""The ``ray`` executor: labeling and prediction caching on a Ray cluster.

An executor fills what the registry lacks for a set of models and tasks
(``Session.ensure``). ``local`` is the in-process loop, one model at a time.
``ray`` cuts the same work into units (model, shard of graph images or of a
task's images), keeps a pool of Ray actors that each hold one model at a
time and take many shards of it, and stays the only writer of the registry:
actors return arrays, the driver commits them through the same writers the
local loop uses (``LabelWriter``'s resumable ``.partial.h5``, whole
prediction files), so the registry is crash-safe and readable while the
cluster runs, and a stopped run resumes from what was committed. Ray
restarts a killed actor and retries its tasks (``max_restarts``,
``max_task_retries``); each unit's result arrives once, so nothing is
written twice. An error a model raises is not retried: it stops the run
with one line (``ray_failures``), its traceback kept in the worker's log.
Workers load plugins as the driver does, by their entry points (installed
on every node) and the driver's ``MLLBENCH_PLUGINS``. Shards are runs of whole batches on the local loop's batch
boundaries and call the model exactly as it does, with the same model
options and torch thread count, so the results are the same floats
(bitwise for fp32 on CPU).

Ray is imported only here and in ``ray_failures``, only when the ``ray`` executor runs.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from mllbench.pipeline.evaluate import (batch_similarities, class_embeddings, list_unreadable, read_images,
                                        task_hash)
from mllbench.pipeline.labeling import LabelWriter
from mllbench.registry.store import Store, canonical_compute
from mllbench.core.types import MllbenchError

from mllbench.pipeline.local import missing
from mllbench.pipeline.ray_failures import failure_line, kept_in_worker_log
from mllbench.pipeline.session import Session

# environment the workers need to resolve the benchmark as the driver does (never keys or tokens)
FORWARDED_ENV = ("MLLBENCH_", "HF_", "TRANSFORMERS_", "XDG_CACHE_HOME", "PYTHONHASHSEED")
IN_FLIGHT_PER_WORKER = 2  # a queued shard per actor hides the driver's commit and Ray's latency


# --- units of work -----------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """A shard: whole batches of one model's work. ``batches`` are (start, items): node
    captions ("captions", one batch), graph image refs ("images") or a task's image
    indices ("predict"); ``start`` is the batch's first row in the writer's array."""

    model_id: str
    kind: str
    batches: tuple[tuple[int, tuple], ...]
    task: str | None = None

    @property
    def n_images(self) -> int:
        return 0 if self.kind == "captions" else sum(len(items) for _, items in self.batches)


def shards(starts: Sequence[int], per_shard: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(starts), per_shard):
        yield starts[i:i + per_shard]


class _Predictions:
    """The driver's buffer of one (model, task) prediction file, saved whole when complete."""

    def __init__(self, session: "Session", model_id: str, task: str, fingerprint: dict | None = None):
        self.session, self.model_id, self.task, self.fingerprint = session, model_id, task, fingerprint
        self.ds = session.bench.dataset(task)
        self.sims = np.empty((len(self.ds), len(self.ds.info.classnames)), np.float32)
        self.left = len(self.ds)
        self.unreadable: dict[int, str] = {}

    def units(self, batch_size: int, per_shard: int) -> list[Unit]:
        n = len(self.ds)
        starts = range(0, n, batch_size)
        return [Unit(self.model_id, "predict", tuple((s, tuple(range(s, min(s + batch_size, n)))) for s in shard),
                     self.task) for shard in shards(starts, per_shard)]

    def commit(self, start: int, sims: np.ndarray, unreadable: dict[int, str] | None = None) -> None:
        """One batch's rows (none for its ``unreadable`` images, as ``evaluate.zero_shot`` leaves them out)."""
        bad = unreadable or {}
        n = len(sims) + len(bad)
        rows = [start + j for j in range(n) if j not in bad]
        if rows:
            self.sims[rows] = sims
        self.unreadable.update({start + j: e for j, e in bad.items()})
        self.left -= n
        if self.left == 0:
            gone = sorted(self.unreadable)
            self.session.store.save_predictions(self.task, self.model_id, task_hash(self.ds),
                                                np.delete(self.sims, gone, axis=0), np.delete(self.ds.labels(), gone),
                                                self.fingerprint, [self.unreadable[i] for i in gone])


# --- the Ray worker (runs on the cluster; never opens the registry) -----------

Decoded = list[tuple[list[Any], dict[int, str]]]  # per batch: the images that decode, {position: error} of the rest


def _decode(session: "Session", unit: Unit) -> Decoded | None:
    """PIL images of a unit's batches (None for captions): what CPU decode workers ship."""
    return DECODERS[unit.kind](session, unit)


DECODERS: dict[str, Callable[["Session", Unit], Decoded | None]] = {
    "captions": lambda session, unit: None,
    "images": lambda session, unit: [read_images(session.open_image, items) for _, items in unit.batches],
    "predict": lambda session, unit: [read_images(session.bench.dataset(unit.task).image, items)
                                      for _, items in unit.batches],
}


def _worker_session(bench_path: str, model_options: dict, overrides: dict | None = None) -> "Session":
    """A session on the benchmark with no registry: a worker only loads models and images,
    with the driver's model options (device, precision, batch size) and per-model overrides,
    so the same floats."""
    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import get_host

    session = Session(load_benchmark(get_host(), bench_path), store=None, **model_options)  # type: ignore[arg-type]
    session.models.overrides = dict(overrides or {})
    return session


class ShardWorker:
    """A Ray actor body: one model in memory at a time, loaded once for many shards."""

    def __init__(self, bench_path: str, model_options: dict, threads: int | None, overrides: dict | None = None):
        if threads:  # on CPU a small batch's last bits depend on torch's thread count
            import torch

            torch.set_num_threads(threads)
        self.session = _worker_session(bench_path, model_options, overrides)
        self._text: dict[tuple[str, str], np.ndarray] = {}

    def run(self, unit: Unit, images: Decoded | None = None) -> list[tuple[np.ndarray, dict[int, str]]]:
        """(array, unreadable) per batch of ``unit``; ``images`` when CPU workers decoded them."""
        with kept_in_worker_log():
            model = self.session.model(unit.model_id)  # frees the previous model on a switch
            if images is None:
                images = _decode(self.session, unit)
            if images is None:
                return [(array, {}) for array in COMPUTE[unit.kind](self, model, unit, None)]
            arrays = COMPUTE[unit.kind](self, model, unit, [batch for batch, _ in images])
            return [(array, bad) for array, (_, bad) in zip(arrays, images)]

    def class_text(self, model: Any, unit: Unit) -> np.ndarray:
        """A task's class embeddings, once per (model, task), not per shard."""
        key = (unit.model_id, unit.task)
        if key not in self._text:
            self._text = {k: v for k, v in self._text.items() if k[0] == unit.model_id}
            self._text[key] = class_embeddings(model, self.session.bench.dataset(unit.task).info)
        return self._text[key]

    def restarted(self) -> bool:
        """Whether Ray restarted this actor (it was killed or crashed)."""
        import ray

        return ray.get_runtime_context().was_current_actor_reconstructed


# the same calls as the local loop: the captions one at a time (label_model's canonical_compute),
# one encode_images per batch (label_model), batch_similarities per batch (zero_shot)
COMPUTE: dict[str, Callable[[ShardWorker, Any, Unit, Any], list[np.ndarray]]] = {
    "captions": lambda worker, model, unit, _: [canonical_compute(model.encode_texts, list(unit.batches[0][1]))],
    "images": lambda worker, model, unit, images: [model.encode_images(batch) if batch else np.zeros((0, 0))
                                                   for batch in images],
    "predict": lambda worker, model, unit, images: [batch_similarities(model, worker.class_text(model, unit), batch)
                                                    if batch else np.zeros((0, 0)) for batch in images],
}

_DECODE_SESSIONS: dict[str, "Session"] = {}


def _decode_task(bench_path: str, unit: Unit) -> Decoded | None:
    """A Ray task body: decode a unit's images on a CPU worker (one session per process)."""
    with kept_in_worker_log():
        if bench_path not in _DECODE_SESSIONS:
            _DECODE_SESSIONS[bench_path] = _worker_session(bench_path, {})
        return _decode(_DECODE_SESSIONS[bench_path], unit)


def local_threads() -> int | None:
    """torch's intra-op threads in this process, the local executor's; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise MllbenchError("--executor ray needs Ray: pip install 'mllbench[ray]'") from exc
    return ray


# --- the Ray executor (the driver: schedules, commits, reports) ---------------

@dataclass
class RayOptions:
    """``--ray-*`` options: where the cluster is, how its workers are sized, how failures retry."""

    address: str | None = None  # None: RAY_ADDRESS or a new local Ray; "auto": a running cluster
    workers: int | None = None  # model actors; None: fill the cluster
    gpus_per_model: float | None = None  # None: 1 on a cluster with GPUs, else 0
    cpus_per_worker: float = 1.0
    cpu_workers: int = 0  # CPU slots for decode tasks; 0: actors decode their own shards
    shard_batches: int = 4  # batches per shard
    threads: int | None = None  # torch threads per worker; None: on CPU this process's (the local floats)
    max_retries: int = 3  # restarts per actor and retries per shard


class RayExecutor:
    """On a Ray cluster: actors compute, this process alone writes the registry."""

    def __init__(self, **options: Any):
        known = {f.name for f in fields(RayOptions)}
        unknown = set(options) - known
        if unknown:
            raise MllbenchError(f"unknown ray executor option(s) {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(sorted(known))}")
        self.options = RayOptions(**{k: v for k, v in options.items() if v is not None})
        import_ray()  # fail now, not after the graph is built
        self.workers: list[Any] = []  # actor handles, for inspection (tests kill one)
        self._pool_key: tuple | None = None

    # --- cluster ---------------------------------------------------------
    def _pool(self, ray, session: "Session") -> list[Any]:
        if not ray.is_initialized():
            import logging

            ray.init(address=self.options.address, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False)
        resources = ray.cluster_resources()
        opts = self.options
        gpus = opts.gpus_per_model if opts.gpus_per_model is not None else (1.0 if resources.get("GPU") else 0.0)
        free_cpus = resources.get("CPU", 0) - opts.cpu_workers
        n = opts.workers or max(1, int(resources.get("GPU", 0) // gpus if gpus else free_cpus // opts.cpus_per_worker))
        if n * opts.cpus_per_worker > free_cpus or n * gpus > resources.get("GPU", 0):
            raise MllbenchError(f"{n} workers x ({opts.cpus_per_worker:g} CPU, {gpus:g} GPU) + {opts.cpu_workers} "
                                f"CPU decode workers exceed the cluster ({resources.get('CPU', 0):g} CPUs, "
                                f"{resources.get('GPU', 0):g} GPUs); lower --ray-workers or --gpus-per-model")
        # CPU workers compute with this process's torch threads: a small batch's last bits depend on them
        threads = opts.threads or (None if gpus else local_threads())
        key = (str(session.bench.path), {"device": session.device, "precision": session.precision,
                                         "batch_size": session.batch_size}, threads, session.models.overrides)
        self.device = "cuda" if gpus else "cpu"  # where the actors run: what the fingerprints record
        if self.workers and self._pool_key == key:
            return self.workers
        self.close()
        env = {k: v for k, v in os.environ.items()
               if k.startswith(FORWARDED_ENV) and "TOKEN" not in k and "KEY" not in k}
        actor = ray.remote(ShardWorker).options(
            num_cpus=opts.cpus_per_worker, num_gpus=gpus, max_restarts=opts.max_retries,
            max_task_retries=opts.max_retries, runtime_env={"env_vars": env})
        self.workers = [actor.remote(*key) for _ in range(n)]
        self._decode = ray.remote(_decode_task).options(num_cpus=1, max_retries=opts.max_retries,
                                                        runtime_env={"env_vars": env})
        self._pool_key = key
        return self.workers

    def close(self) -> None:
        """Free the actors (and their models); the Ray cluster itself stays up."""
        if self.workers:
            ray = import_ray()
            for w in self.workers:
                ray.kill(w)
        self.workers, self._pool_key = [], None

    # --- work ------------------------------------------------------------
    def ensure(self, session: "Session", model_ids: Sequence[str], tasks: Sequence[str],
               labels: bool = True) -> None:
        """The ``missing`` work as shards on the actors, committed by this process as they return."""
        work = missing(session, model_ids, tasks, labels)
        if not work:
            return
        ray = import_ray()
        per_shard = self.options.shard_batches
        actors = self._pool(ray, session)
        with Store.locked(session.store.label_path(work[0][0]).parent):  # the labels folder, as label_model
            writers: dict[str, LabelWriter] = {}
            commits: dict[tuple, Callable[[int, np.ndarray], None]] = {}
            units: list[Unit] = []
            try:
                for model_id, label, todo in work:
                    bs = session.models.batch_size(model_id)
                    made = session.models.run_fingerprint(model_id, self.device)
                    if label:
                        w = writers[model_id] = LabelWriter(session.store, session.graph(), model_id, bs, made)
                        texts = w.caption_texts()
                        if texts:
                            units.append(Unit(model_id, "captions", ((0, tuple(texts)),)))
                        units += [Unit(model_id, "images", tuple((s, tuple(w.refs(s))) for s in shard))
                                  for shard in shards(w.pending(), per_shard)]
                        commits[(model_id, "captions", None)] = lambda _s, emb, _b, w=w: w.commit_captions(emb)
                        commits[(model_id, "images", None)] = w.commit
                    for task in todo:
                        job = _Predictions(session, model_id, task, made)
                        units += job.units(bs, per_shard)
                        commits[(model_id, "predict", task)] = job.commit
                self._run(ray, session, actors, units, commits)
                for model_id, w in writers.items():
                    w.finish()
            finally:
                for w in writers.values():
                    w.close()

    def _run(self, ray, session: "Session", actors: list[Any], units: list[Unit], commits: dict) -> None:
        """Dispatch units to actors (model affinity: an actor keeps its model while it has
        shards), commit results as they arrive, report per model."""
        queues: dict[str, deque[Unit]] = {}
        for u in units:
            queues.setdefault(u.model_id, deque()).append(u)
        bars = {m: _Bar(session, m, list(q)) for m, q in queues.items()}
        held: list[str | None] = [None] * len(actors)
        load = [0] * len(actors)
        in_flight: dict[Any, tuple[int, Unit]] = {}
        bench_path = str(session.bench.path)
        while in_flight or any(queues.values()):
            for i, actor in enumerate(actors):
                while load[i] < IN_FLIGHT_PER_WORKER:
                    unit = _next_unit(queues, held, i)
                    if unit is None:
                        break
                    images = (self._decode.remote(bench_path, unit)
                              if self.options.cpu_workers and unit.kind != "captions" else None)
                    in_flight[actor.run.remote(unit, images)] = (i, unit)
                    load[i] += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            i, unit = in_flight.pop(ready[0])
            load[i] -= 1
            try:
                arrays = ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                raise MllbenchError(failure_line(session, unit, exc, self.options.max_retries)) from exc
            commit = commits[(unit.model_id, unit.kind, unit.task)]
            for (start, _), (array, bad) in zip(unit.batches, arrays):
                commit(start, array, bad)
                for error in bad.values():  # the worker's warning went to its log: list it here, as locally
                    list_unreadable(error, stacklevel=3)
            bars[unit.model_id].advance(unit)


def _next_unit(queues: dict[str, deque[Unit]], held: list[str | None], i: int) -> Unit | None:
    """Actor i's next shard: of its model; else of a model no actor holds; else of the model
    with the most shards left (another actor then loads it too)."""
    current = held[i]
    if current is None or not queues.get(current):
        left = {m: len(q) for m, q in queues.items() if q}
        if not left:
            return None
        unheld = [m for m in left if m not in held]
        current = unheld[0] if unheld else max(left, key=left.get)
        held[i] = current
    return queues[current].popleft()


class _Bar:
    """One progress bar per model: its images done, shards done / total and images/s."""

    def __init__(self, session: "Session", model_id: str, units: list[Unit]):
        self.total = sum(u.n_images for u in units)
        self.n_shards, self.shards, self.images = len(units), 0, 0
        self.started = time.perf_counter()
        self.update = session.report(f"{model_id} (ray)", self.total)
        self.update(0, self.total, info=f"0/{self.n_shards} shards")

    def advance(self, unit: Unit) -> None:
        self.shards += 1
        self.images += unit.n_images
        rate = self.images / max(time.perf_counter() - self.started, 1e-9)
        self.update(self.images, self.total, info=f"{self.shards}/{self.n_shards} shards, {rate:.0f} img/s")


