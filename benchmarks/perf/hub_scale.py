"""Selection at hub scale: `select` on synthetic registries of the paper's size and beyond.

What is written: a registry in the real file format, through the product's own
writers (``save_graph``, ``LabelWriter``): a graph of real WordNet noun synsets
(captions "{name} which is {definition}", hypernym edges among them), a share of
nodes ("leaves") owning a contiguous block of images and the rest ("inner")
drawing theirs at random from the leaves' images, as inherited images are;
labels of random unit vectors, d = 768, stored float16 as labelling stores them.
The node captions are embedded once when written (the hub's warm state); a task's
class captions are new to each run.

What is measured, each selection in a fresh subprocess with the registry's files
evicted from the page cache (``posix_fadvise DONTNEED``, so reads come from disk):
wall time of ``Hub.select`` (``mllbench select --classes``' code path: graph load,
label checks, Eqs. 5-7) and, apart, of embedding the class captions with the
``hashing`` embedder (the cheapest, so the figure is of selection, not of a text
model); peak RSS of the child (``wait4``); bytes it read (``/proc/self/io``:
``read_bytes`` from storage, ``rchar`` through read calls). Classes are random
WordNet noun names, captioned by the ``template`` captioner.

What is extrapolated, and marked so: points that do not fit this machine's disk
or time. Writing a label ranks every image's top nodes over the whole graph
(``mllbench.maths.mll.top_nodes``: images x nodes x d, ~5.7 TFLOP per model at the
paper's scale, minutes per model on 2 cores), so two labels are written and
the further models are byte copies of them (distinct files, so each is read
cold, as a distinct label would be); 49 models would take 35 GB, so 24 are
measured and more extrapolated. The 50,000-node registry (~170 TFLOP per
model) is written only with ``--wide``. Selection reads and
scores one model's label at a time, so wall time and bytes are fitted as
a + b x models on the measured model counts, and peak memory is the largest
measured (it does not grow with models). Brute force is an
estimate: the measured per-image forward time of the embedded hub's image towers
x the task's images (classes x ``--task-images-per-class``) x models.

    python benchmarks/perf/hub_scale.py [--workdir /tmp/mllbench-hub-scale] [--keep] [--wide]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import machine, open_session

from mllbench.semantic.graph import CAPTION_FORMAT, SemanticGraph
from mllbench.pipeline.labeling import LabelWriter, label_is_current
from mllbench.registry.store import Store, save_graph

DIM = 768


@dataclass(frozen=True)
class Scale:
    """A registry to write (models, nodes, images per node) and the model counts to select with."""

    models: int  # the first ``written`` are labelled, the rest copy their files
    nodes: int
    images_per_node: int
    measure: dict[int, tuple[int, ...]]  # classes -> model counts measured (the rest extrapolated)
    written: int = 2

    @property
    def name(self) -> str:
        return f"v{self.nodes}-i{self.images_per_node}"


def synthetic_graph(n_nodes: int, images_per_node: int, leaf_share: float, seed: int) -> SemanticGraph:
    """G on ``n_nodes`` WordNet synsets: leaves own contiguous images, inner nodes draw theirs from them."""
    from mllbench.semantic import wordnet as wn

    rng = np.random.default_rng(seed)
    net = wn.wordnet()
    wnids = tuple(sorted(rng.choice(net.wnids(), n_nodes, replace=False)))
    index = {w: i for i, w in enumerate(wnids)}
    edges = np.array(sorted((index[p], index[c]) for c in wnids for p in net.hypernyms(c) if p in index),
                     np.int64).reshape(-1, 2)
    leaf = rng.random(n_nodes) < leaf_share
    n_images = int(leaf.sum()) * images_per_node
    per_node = [np.arange(k * images_per_node, (k + 1) * images_per_node) for k in range(int(leaf.sum()))]
    owned = iter(per_node)
    chosen = [next(owned) if is_leaf else np.sort(rng.choice(n_images, images_per_node, replace=False))
              for is_leaf in leaf]
    names = tuple(net.name(w) for w in wnids)
    return SemanticGraph(
        wnids, names, tuple(CAPTION_FORMAT.format(name=n, definition=net.definition(w)) for n, w in zip(names, wnids)),
        edges, np.cumsum([0] + [len(c) for c in chosen]).astype(np.int64), np.concatenate(chosen).astype(np.int64),
        tuple(f"synthetic:{i:09d}" for i in range(n_images)),
        f"synthetic;ipn={images_per_node};leaf={leaf_share};seed={seed}", "synthetic")


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def benchmark_file(root: Path, n_models: int) -> Path:
    """A definition of ``n_models`` synthetic hub models whose sample dataset is not here (the stored graph stands)."""
    path = root / f"hub-{n_models}.json"
    path.write_text(json.dumps({
        "name": f"synthetic-{n_models}", "models": [{"id": f"synthetic-{i:04d}"} for i in range(n_models)],
        "targets": [], "samples": [{"name": "absent", "source": "imagefolder", "root": str(root / "absent"),
                     "classnames": ["absent"]}],
        "defaults": {"embedder": "hashing", "captioner": "template"}}))
    return path


def write_registry(root: Path, scale: Scale, leaf_share: float, seed: int) -> None:
    """Graph, labels and the node-caption embedding cache, through mllbench's writers.

    Incremental: the graph is a function of the seed, so a rerun with more models
    writes only their labels (``label_is_current``) and embeds no caption again.
    """
    from mllbench.api import open_hub

    store = Store(root / "registry")
    graph = synthetic_graph(scale.nodes, scale.images_per_node, leaf_share, seed)
    save_graph(store, graph)
    for m in range(scale.models):
        model_id = f"synthetic-{m:04d}"
        if label_is_current(store, graph, model_id):
            continue
        if m >= scale.written:
            shutil.copyfile(store.label_path(f"synthetic-{m % scale.written:04d}"), store.label_path(model_id))
            continue
        rng = np.random.default_rng([seed, m])
        with Store.locked(store.label_path(model_id).parent), LabelWriter(store, graph, model_id, 2**16) as writer:
            writer.commit_captions(unit_rows(rng, len(writer.caption_texts())))
            for start in writer.pending():
                writer.commit(start, unit_rows(rng, len(writer.refs(start))))
            writer.finish()
    open_hub(str(benchmark_file(root, scale.models)), store.root, embedder="hashing").session.embed(list(graph.captions))


def evict(root: Path) -> None:
    """Drop the registry's pages from the page cache, so the child reads from disk."""
    for path in root.rglob("*.h5"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def class_names(n: int, seed: int) -> list[str]:
    from mllbench.semantic import wordnet as wn

    net = wn.wordnet()
    names = dict.fromkeys(net.name(w) for w in np.random.default_rng([seed, n]).permutation(net.wnids())[:4 * n])
    return list(names)[:n]


def child(bench: str, registry: str, n_classes: int, seed: int) -> None:
    """One selection, as `mllbench select --classes` makes it; prints a JSON line of figures."""
    from mllbench.api import open_hub

    hub = open_hub(bench, registry, embedder="hashing", captioner="template")
    info = hub.task(class_names(n_classes, seed))
    start = time.perf_counter()
    captions = [t for c in info.classnames for t in hub.session.captions(info, c)]
    hub.session.embed(captions)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    sel = hub.select(info)
    select_s = time.perf_counter() - start
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    print(json.dumps({"embed_s": embed_s, "select_s": select_s, "read_bytes": int(io["read_bytes"]),
                      "rchar": int(io["rchar"]), "peak_bytes": int(status["VmHWM"].split()[0]) * 1024,
                      "shape": list(sel.scores.shape)}))


def measure(root: Path, n_models: int, n_classes: int, seed: int) -> dict:
    """One selection in a fresh subprocess on a cold page cache.

    Peak memory is the child's own ``VmHWM``: ``wait4``'s ru_maxrss would include the
    parent's RSS at fork (Linux keeps the high-water mark across exec).
    """
    evict(root)
    cmd = [sys.executable, __file__, "--child", str(benchmark_file(root, n_models)), str(root / "registry"),
           str(n_classes), str(seed)]
    start = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
    return {**json.loads(out.strip().splitlines()[-1]), "process_s": time.perf_counter() - start,
            "models": n_models, "classes": n_classes}


def fit(points: list[dict], key: str, models: int) -> float:
    """``key`` at ``models`` from a + b x models through the measured points (one point: proportional)."""
    x = np.array([p["models"] for p in points], float)
    y = np.array([p[key] for p in points], float)
    if len(set(x)) == 1:
        return float(y.mean() * models / x[0])
    b, a = np.polyfit(x, y, 1)
    return float(a + b * models)


def forward_seconds_per_image(n_images: int = 32) -> float:
    """Mean over the embedded hub's models of one image's image-tower time on this CPU (batch of 32)."""
    from PIL import Image

    session = open_session("embedded")
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (224, 224, 3), np.uint8)) for _ in range(n_images)]
    times = []
    for model in session.bench.models:
        tower = session.model(model["id"])
        tower.encode_images(images[:4])  # warm-up
        start = time.perf_counter()
        tower.encode_images(images)
        times.append((time.perf_counter() - start) / n_images)
    session.release_model()
    return float(np.mean(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mllbench-hub-scale"),
                    help="where the synthetic registries are written (deleted at the end unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the registries for a rerun (whose class captions "
                    "are then cached: its embedding column is warm)")
    ap.add_argument("--leaf-share", type=float, default=0.6, help="share of nodes owning their images")
    ap.add_argument("--task-images-per-class", type=int, default=75, help="brute force: labelled images per class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="the paper-scale 1,000-class point only")
    ap.add_argument("--wide", action="store_true", help="also 50,000 nodes (labelling: hours per model)")
    args = ap.parse_args()
    paper = Scale(24, 9055, 75, {1000: (2, 24), 100: (2, 24), 10: (2, 24)})
    if args.quick:
        paper = Scale(24, 9055, 75, {1000: (24,)})
    scales = [paper] + ([Scale(2, 50000, 75, {1000: (1, 2), 100: (1, 2), 10: (1, 2)})] if args.wide else [])
    print(f"registries under {args.workdir}; {machine()}; load average "
          + " / ".join(f"{x:.2f}" for x in os.getloadavg()), file=sys.stderr)
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / "points.jsonl"  # measured points, kept so that an interrupted run resumes
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    measured: dict[tuple[int, int], list[dict]] = {}
    disk: dict[int, float] = {}
    for scale in scales:
        root = args.workdir / scale.name
        start = time.perf_counter()
        write_registry(root, scale, args.leaf_share, args.seed)
        disk[scale.nodes] = sum(p.stat().st_size for p in (root / "registry").rglob("*.h5"))
        print(f"{scale.name}: {disk[scale.nodes] / 1e9:.1f} GB on disk, {time.perf_counter() - start:.0f} s to write",
              file=sys.stderr)
        for n_classes, counts in scale.measure.items():
            for n_models in counts:
                point = next((p for p in done if (p["nodes"], p["models"], p["classes"])
                              == (scale.nodes, n_models, n_classes)), None)
                if point is None:
                    point = {"nodes": scale.nodes, **measure(root, n_models, n_classes, args.seed)}
                    with log.open("a") as fh:
                        fh.write(json.dumps(point) + "\n")
                print(json.dumps(point), file=sys.stderr)
                measured.setdefault((scale.nodes, n_classes), []).append(point)
        if not args.keep:
            shutil.rmtree(root)
    per_image = forward_seconds_per_image()
    print(f"\n## select at hub scale  ({machine()}; load average "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())})\n")
    print("Synthetic registries (real format, d = 768, float16 labels, 75 images per node, "
          f"{args.leaf_share:.0%} of nodes own their images); hashing embedder; cold page cache. "
          "`~` marks a figure extrapolated (a + b x models through the measured points).\n")
    print("| models | nodes | classes | select wall (s) | class-caption embedding (s) | peak RSS (GB) "
          "| read from disk (GB) | rchar (GB) | brute force, estimated (s) | brute force / select |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (nodes, n_classes), points in measured.items():
        for models in sorted({p["models"] for p in points} | {49, 200, 1000}):
            exact = next((p for p in points if p["models"] == models), None)
            mark = "" if exact else "~"
            wall = exact["select_s"] if exact else fit(points, "select_s", models)
            read = exact["read_bytes"] if exact else fit(points, "read_bytes", models)
            rchar = exact["rchar"] if exact else fit(points, "rchar", models)
            peak = max(p["peak_bytes"] for p in points)
            embed = points[0]["embed_s"]  # the first run of these classes: caption caches cold
            brute = per_image * n_classes * args.task_images_per_class * models
            print(f"| {models} | {nodes} | {n_classes} | {mark}{wall:.1f} | {embed:.2f} | {mark}{peak / 1e9:.2f} "
                  f"| {mark}{read / 1e9:.2f} | {mark}{rchar / 1e9:.2f} | ~{brute:.0f} | ~{brute / wall:.0f}x |")
    print("\nMeasured points (models at which each row was run): "
          + "; ".join(f"{n} nodes, {c} classes: {', '.join(str(p['models']) for p in pts)}"
                      for (n, c), pts in measured.items()))
    print("Registry on disk: " + "; ".join(f"{n} nodes: {b / 1e9:.1f} GB written" for n, b in disk.items())
          + f". Brute force: {per_image * 1e3:.1f} ms per image per model (embedded hub's image towers, "
            f"batch 32, this CPU) x classes x {args.task_images_per_class} images x models.")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
