"""Calls through the selector context cost what their work costs (issue 18, item 5).

A third-party selector written the natural way asks the context for everything
once per class: ``ctx.captions(task, classname)`` and ``ctx.embed(captions)``
(to pick the class's graph nodes), and for each model
``ctx.encode_text(model, captions)`` and ``ctx.labels.similarities(model, nodes)``:
thousands of small calls on the embedded benchmark's tasks. This measures, per
run, the wall time and where it went, exclusively (nested time counted once).
The work:

- load: loading a hub model (a text miss for a model not in memory);
- towers: the text towers' own work (a model's ``encode_texts``, the embedder);
- captioner: making captions that the caption cache lacks;
- registry: the registry's caches (text, embedding and caption caches: opening, lookups,
  writes) and the label reads of ``similarities`` (rows and their matmul).

And what is not work: ``session``, the session's code in a context call around
the cache, and making each task's context; ``display``, the progress reporter;
``selector``, the selector's own lines (picking nodes, scoring). ``outside`` is
the share of the wall time that is not work, ``overhead`` that of session +
display, and ``µs/call`` is session + display per context call.

Uncached: a fresh registry holding only the graph and the labels (every text is
encoded, every caption made); cached: the same selector again on that registry
(best of 3). The reporter is quiet (``-q``) or the CLI's rich display writing to a
non-terminal console (``--terminal``: as on one); ``--old`` adds the display from before issue 18 (one rich
task per call, whose cost grows with the square of the calls).

    python benchmarks/perf/per_call.py --registry /tmp/reg [--tasks all] [--old] [--terminal]
        [--class-first] [--profile uncached|cached]

``--registry`` holds the embedded benchmark's graph and labels (built there if
missing: ~3 min, once); the runs use fresh copies of it under a temporary folder.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import shutil
import tempfile
import time
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from rich.console import Console

from common import report

from mllbench.api import make_session
from mllbench.cli.progress import rich_reporter
from mllbench.host.benchmark import Benchmark
from mllbench.pipeline.label_view import GraphLabels
from mllbench.pipeline.session import quiet_reporter
from mllbench.registry.caches import KeyedArrays, KeyedCaptions

NODES_PER_CLASS = 5
WORK = ("load", "towers", "captioner", "registry")
OVERHEAD = ("session", "display")


def per_class_selector(ctx: Any, calls: Counter, class_first: bool = False) -> np.ndarray:
    """Scores (n_models, n_classes), every context call made once per class (and model).

    Models in the outer loop by default: a session holds one model at a time, so a text
    miss for another model than the last one loads it (``--class-first`` shows that cost).
    """
    node_vectors = ctx.labels.node_caption_embeddings()
    captions = [ctx.captions(ctx.task, classname) for classname in ctx.task.classnames]
    closeness = np.stack([ctx.embed(c).mean(0) for c in captions]) @ node_vectors.T
    nodes = np.sort(np.argpartition(-closeness, NODES_PER_CLASS, axis=1)[:, :NODES_PER_CLASS], axis=1)
    scores = np.zeros((len(ctx.models), len(captions)))
    pairs = [(m, c) for m in range(len(ctx.models)) for c in range(len(captions))]
    for m, c in sorted(pairs, key=lambda mc: mc[::-1]) if class_first else pairs:
        model = ctx.models[m].id
        text = ctx.encode_text(model, captions[c])
        sims, image_node = ctx.labels.similarities(model, nodes[c])
        scores[m, c] = np.mean(sims.argmax(1) == image_node) + 1e-3 * float(np.linalg.norm(text.mean(0)))
    calls.update({"captions": len(captions), "embed": len(captions), "encode_text": len(pairs),
                  "similarities": len(pairs)})
    return scores


class Meter:
    """Exclusive wall seconds per kind of work: a timed call's time minus that of timed calls inside it."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()
        self._inner = [0.0]

    def timed(self, kind: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._inner.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self.seconds[kind] += spent - self._inner.pop()
                self._inner[-1] += spent
        return wrapper

    def reporter(self, base: Callable) -> Callable:
        """``base`` with its calls and its updates' calls counted as display."""
        return self.timed("display", lambda description, total: self.timed("display", base(description, total)))


class TimedCompute:
    """A cache's ``compute`` timed as ``kind``, its attributes (``text_batching``, ...) included:
    reading one may load the model."""

    def __init__(self, compute: Callable, meter: Meter, kind: str):
        self._compute, self._meter, self._kind = compute, meter, kind

    def __call__(self, items: Any) -> Any:
        return self._meter.timed(self._kind, self._compute)(items)

    def __getattr__(self, name: str) -> Any:
        return self._meter.timed(self._kind, getattr)(self._compute, name)


@contextmanager
def instrumented(meter: Meter) -> Iterator[None]:
    """The registry's caches and label reads timed as registry, their computes as towers/captioner,
    loading a hub model as load."""
    arrays_get, captions_get = KeyedArrays.get, KeyedCaptions.get
    patches = {
        (KeyedArrays, "get"): lambda self, texts, compute, progress=None: arrays_get(
            self, texts, TimedCompute(compute, meter, "towers"), progress),
        (KeyedCaptions, "get"): lambda self, requests, compute: captions_get(
            self, requests, TimedCompute(compute, meter, "captioner")),
        (KeyedArrays, "__init__"): KeyedArrays.__init__, (KeyedCaptions, "__init__"): KeyedCaptions.__init__,
        (GraphLabels, "__init__"): GraphLabels.__init__, (GraphLabels, "similarities"): GraphLabels.similarities,
        (Benchmark, "load_model"): Benchmark.load_model,
    }
    saved = {(cls, name): cls.__dict__[name] for cls, name in patches}
    for (cls, name), fn in patches.items():
        setattr(cls, name, meter.timed("load" if cls is Benchmark else "registry", fn))
    try:
        yield
    finally:
        for (cls, name), fn in saved.items():
            setattr(cls, name, fn)


@contextmanager
def old_rich_reporter(console: Any) -> Iterator[Callable]:
    """The display before issue 18, for comparison: one rich task per call."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False,
                  console=console) as bar:
        def reporter(description: str, total: int) -> Callable[..., None]:
            task = bar.add_task(description, total=total, info="")
            return lambda done, total_, **fields: bar.update(task, completed=done, total=total_, **fields)

        yield reporter


@contextmanager
def display(kind: str, terminal: bool) -> Iterator[Callable]:
    """The reporter of ``kind``; a rich one draws to /dev/null, as on a terminal or not."""
    if kind == "quiet":
        yield quiet_reporter
        return
    with open(os.devnull, "w") as sink:
        with (rich_reporter if kind == "rich" else old_rich_reporter)(Console(file=sink, force_terminal=terminal)) as r:
            yield r


def measure(registry: Path, kind: str, tasks: list[str], args: argparse.Namespace,
            profile: cProfile.Profile | None = None) -> dict:
    """One run of the selector on ``tasks``: wall seconds, exclusive seconds per kind, calls made."""
    session = make_session("embedded", registry, {})
    session.graph()  # opening the session (the graph read once), not a per-call cost
    meter, calls = Meter(), Counter()
    with instrumented(meter), profile or nullcontext():
        start = time.perf_counter()
        with display(kind, args.terminal) as reporter:
            session.report = meter.reporter(reporter)
            for task in tasks:
                ctx = meter.timed("session", session.context)(task, {})
                ctx = replace(ctx, **{name: meter.timed("session", getattr(ctx, name))
                                      for name in ("captions", "embed", "encode_text")})
                per_class_selector(ctx, calls, args.class_first)
        wall = time.perf_counter() - start
    session.release_model()
    seconds = {k: meter.seconds[k] for k in (*WORK, *OVERHEAD)}
    return {"wall": wall, **seconds, "selector": wall - sum(seconds.values()),
            "n_calls": sum(calls.values()), "classes": calls["captions"]}


def fresh_copy(base: Path, folder: Path) -> Path:
    """A registry holding only ``base``'s graph and labels: every text and caption uncached."""
    folder.mkdir(parents=True)
    shutil.copy2(base / "graph.h5", folder / "graph.h5")
    (folder / "labels").mkdir()
    for label in (base / "labels").glob("*.h5"):
        if not label.name.endswith(".partial.h5"):
            shutil.copy2(label, folder / "labels" / label.name)
    return folder


def prepare(base: Path, folder: Path) -> None:
    """Labels in ``base`` (built if missing), and torch, a model and the embedder loaded once, so
    that no measured run pays for importing them."""
    session = make_session("embedded", base, {})
    session.ensure([m["id"] for m in session.bench.models], [], labels=True)
    warm = make_session("embedded", folder / "warm-up", {})
    warm.embed(["warm up"])
    warm.model(warm.bench.models[0]["id"])
    warm.release_model()
    session.release_model()


COLUMNS = ("wall", *WORK, *OVERHEAD, "selector")


def row(name: str, r: dict) -> tuple[str, str]:
    outside = r["wall"] - sum(r[k] for k in WORK)
    overhead = sum(r[k] for k in OVERHEAD)
    return name, (" ".join(f"{r[k]:8.2f}" for k in COLUMNS) + f" {100 * outside / r['wall']:7.1f} %"
                  f" {100 * overhead / r['wall']:7.1f} % {1e6 * overhead / r['n_calls']:7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", required=True, type=Path, help="registry with the embedded graph and labels")
    parser.add_argument("--tasks", default="all", help="comma-separated target tasks (default: all)")
    parser.add_argument("--old", action="store_true", help="also the display from before issue 18")
    parser.add_argument("--class-first", action="store_true", help="classes in the outer loop, models inside")
    parser.add_argument("--terminal", action="store_true", help="rich draws as on a terminal (to /dev/null)")
    parser.add_argument("--profile", choices=("uncached", "cached"), help="cProfile that rich run, print its top")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mllbench-perf-per-call-"))
    prepare(args.registry, folder)
    bench = make_session("embedded", args.registry, {}).bench
    tasks = bench.resolve_tasks(args.tasks)
    results = {}
    for kind in ("quiet", "rich", *(["old rich"] if args.old else [])):
        registry = fresh_copy(args.registry, folder / kind.replace(" ", "-"))
        for cache in ("uncached", "cached"):  # the first run fills the registry's caches
            profile = cProfile.Profile() if (kind, cache) == ("rich", args.profile) else None
            runs = [measure(registry, kind, tasks, args, profile)]
            runs += [measure(registry, kind, tasks, args) for _ in range(2 if cache == "cached" else 0)]
            results[(cache, kind)] = min(runs, key=lambda r: r["wall"])
            if profile:
                pstats.Stats(profile, stream=(out := io.StringIO())).sort_stats("tottime").print_stats(30)
                print(out.getvalue())
    shutil.rmtree(folder)
    first = next(iter(results.values()))
    rows = [("run (seconds)", " ".join(f"{k:>8}" for k in COLUMNS) + "  outside  overhead  µs/call")]
    rows += [row(f"{cache}, {kind}", r) for (cache, kind), r in sorted(results.items(), reverse=True)]
    if args.old:  # a cached run reports nothing: no text is missing
        old, new = results[("uncached", "old rich")], results[("uncached", "rich")]
        rows.append(("uncached: old / new rich display", f"wall x{old['wall'] / new['wall']:.2f}, "
                                                         f"display x{old['display'] / new['display']:.0f}"))
    order = "classes outside, models inside" if args.class_first else "models outside, classes inside"
    report(f"a selector calling the context once per class ({order}): {len(tasks)} tasks, "
           f"{first['classes']} classes, {len(bench.models)} models, {first['n_calls']:,} calls per run", rows)


if __name__ == "__main__":
    main()
