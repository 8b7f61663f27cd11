"""Selection at hub scale: `select` on synthetic registries of the paper's size and beyond.

What is written: a registry in the real file format, through the product's own
writers (``save_graph``, ``LabelWriter``). The graph is drawn as ``build_graph``
draws it (``mllbench.semantic.graph.graph_of``): random WordNet noun synsets are
classes owning ``images_per_node`` images each, their hypernym closure is added
until it has the wanted number of nodes, and every node draws up to 75 images from
its own and its hyponyms'. Labels, d = 768, float16 as labelling stores them, are
of two kinds: ``structured`` (each node's caption a vector near its first
hypernym's, each image its class's vector plus noise; the noise is calibrated so
that the share of images whose own node, the deepest node that drew it, is among
their ``TOP_NODES`` matches the embedded hub's real labels: both figures are
printed) and ``random`` (unit vectors: nothing ranks its own node high, the worst
case for pair rivals). The node captions are embedded once when written (the hub's
warm state); a task's class captions are new to each run.

What is measured, each selection in a fresh subprocess with the registry's files
evicted from the page cache (``posix_fadvise DONTNEED``, so reads come from disk),
``--repeat`` times a point, the model counts of a class count in turn (the median run
is reported, with the range of its times):
wall time of ``Hub.select`` (``mllbench select --classes``' code path: graph load,
label checks, Eqs. 5-7) and, apart, of embedding the class captions with the
``hashing`` embedder (which loads the text cache: 2,048-d float32 vectors, 5x MiniLM's);
peak RSS of the child (``VmHWM``); bytes read from storage (``/proc/self/io``
``read_bytes``) by ``Hub.select`` and by the whole process;
the load average when it ran (the machine is shared). Classes are random WordNet
noun names, captioned by the ``template`` captioner.

What is fitted, and marked so: model counts beyond the disk. ``--written`` labels
are computed (ranking every image against every node: minutes per model at the
paper's scale) and the further models are byte copies of them
(distinct files, so each is read cold, as a distinct label would be). Selection
reads and scores one model's label at a time, so wall time and bytes are fitted
as a + b x models through the measured model counts; peak memory is the largest
measured.

    python benchmarks/perf/hub_scale.py [--workdir /tmp/hubscale] [--labels structured random] [--keep]
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

from mllbench.maths.mll import TOP_NODES, block_counts, l2_normalize, top_nodes
from mllbench.pipeline.labeling import LabelWriter, label_is_current
from mllbench.registry.store import Store, save_graph
from mllbench.semantic.graph import SemanticGraph, graph_of

DIM = 768
TAU = 1.0  # a node's caption: its first hypernym's vector plus this much noise (siblings close, cousins less)


@dataclass(frozen=True)
class Scale:
    """A registry to write (models, nodes, images per node) and the model counts to select with."""

    models: int  # the first ``written`` are labelled, the rest copy their files
    nodes: int
    images_per_node: int
    measure: dict[int, tuple[int, ...]]  # classes -> model counts measured (the rest fitted)
    written: int = 1


def synthetic_graph(n_nodes: int, images_per_node: int, seed: int) -> SemanticGraph:
    """G as build_graph makes it, on random WordNet classes whose hypernym closure has ``n_nodes`` nodes."""
    from mllbench.semantic import wordnet as wn

    net = wn.wordnet()
    closure: set[str] = set()
    classes: list[str] = []
    for w in np.random.default_rng(seed).permutation(net.wnids()):
        new, stack = set(), [str(w)]
        while stack:  # w and its ancestors not in the graph yet
            c = stack.pop()
            if c not in closure and c not in new:
                new.add(c)
                stack.extend(net.hypernyms(c))
        if len(closure) + len(new) <= n_nodes:
            closure |= new
            classes.append(str(w))
        if len(closure) == n_nodes:
            break
    own = {w: [f"synthetic:{k:06d}-{j:03d}" for j in range(images_per_node)] for k, w in enumerate(sorted(classes))}
    return graph_of(own, images_per_node, seed)


def node_vectors(graph: SemanticGraph, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors, each its first hypernym's plus ``TAU`` noise (roots: random), in hypernym order."""
    parent = np.full(len(graph.wnids), -1)
    for p, c in graph.edges[::-1]:  # edges are sorted: the lowest-index hypernym is written last
        parent[c] = p
    out = np.zeros((len(graph.wnids), DIM), np.float32)
    done = np.zeros(len(graph.wnids), bool)
    for v in range(len(graph.wnids)):
        chain = [v]
        while parent[chain[-1]] >= 0 and not done[parent[chain[-1]]]:
            chain.append(parent[chain[-1]])
        for u in reversed(chain):
            base = out[parent[u]] if parent[u] >= 0 else 0
            out[u] = l2_normalize(base + TAU * rng.standard_normal(DIM, np.float32) / np.sqrt(DIM))
            done[u] = True
    return out


def own_nodes(graph: SemanticGraph) -> np.ndarray:
    """Each image's own node: the deepest node that drew it (its class node, or the nearest ancestor that did)."""
    depth = np.zeros(len(graph.wnids), np.int64)
    for _ in range(64):  # longest path from a root; WordNet is < 20 deep
        new = depth.copy()
        np.maximum.at(new, graph.edges[:, 1], depth[graph.edges[:, 0]] + 1)
        if (new == depth).all():
            break
        depth = new
    node = np.repeat(np.arange(len(graph.wnids)), graph.n_images)
    order = np.lexsort((-depth[node], graph.node_images))  # by image, deepest node first
    first = np.concatenate([[True], np.diff(graph.node_images[order]) != 0])
    out = np.full(len(graph.image_refs), -1)
    out[graph.node_images[order][first]] = node[order][first]
    return out


def own_in_top(graph: SemanticGraph, top: np.ndarray) -> float:
    """Share of images whose own node is among their stored top nodes."""
    return float((top == own_nodes(graph)[:, None]).any(1).mean())


def label_vectors(graph: SemanticGraph, kind: str, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(captions, images) of one synthetic label: structured (images near their class's caption) or random."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return (l2_normalize(rng.standard_normal((len(graph.wnids), DIM), np.float32)),
                l2_normalize(rng.standard_normal((len(graph.image_refs), DIM), np.float32)))
    nodes = node_vectors(graph, rng)
    noise = rng.standard_normal((len(graph.image_refs), DIM), np.float32) * (sigma / np.sqrt(DIM))
    return nodes, l2_normalize(nodes[own_nodes(graph)] + noise)


def embedded_own_in_top(registry: Path) -> float:
    """The figure to calibrate on: own node among the top nodes, mean over the embedded hub's labels."""
    session = open_session("embedded")
    session.store = Store(registry) if registry else session.store
    graph = session.graph()
    shares = []
    for model in session.bench.models:
        path = session.store.label_path(model["id"])
        if path.exists():
            import h5py

            with h5py.File(path, "r") as f:
                shares.append(own_in_top(graph, f["top_nodes"][:]))
    if not shares:
        raise SystemExit(f"no embedded label under {session.store.root}: run `mllbench label` first")
    return float(np.mean(shares))


def calibrate(graph: SemanticGraph, target: float, seed: int, sample: int = 3000) -> tuple[float, float]:
    """The image noise whose share of own nodes in the top nodes is ``target`` (bisection on a sample)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(graph.image_refs), min(sample, len(graph.image_refs)), replace=False))
    own = own_nodes(graph)[rows]
    nodes = node_vectors(graph, np.random.default_rng(seed))
    noise = rng.standard_normal((len(rows), DIM), np.float32) / np.sqrt(DIM)
    lo, hi, share = 0.0, 32.0, 0.0
    for _ in range(14):
        sigma = (lo + hi) / 2
        top = top_nodes(l2_normalize(nodes[own] + sigma * noise), nodes, TOP_NODES)
        share = float((top == own[:, None]).any(1).mean())
        lo, hi = (sigma, hi) if share > target else (lo, sigma)
    return (lo + hi) / 2, share


def benchmark_file(root: Path, n_models: int) -> Path:
    """A definition of ``n_models`` synthetic hub models whose sample dataset is not here (the stored graph stands)."""
    path = root / f"hub-{n_models}.json"
    path.write_text(json.dumps({
        "name": f"synthetic-{n_models}", "models": [{"id": f"synthetic-{i:04d}", "args": {"model": "synthetic"}}
                                              for i in range(n_models)],
        "targets": [], "samples": [{"name": "absent", "source": "imagefolder", "root": str(root / "absent"),
                     "classnames": ["absent"]}],
        "defaults": {"embedder": "hashing", "captioner": "template"}}))
    return path


def write_registry(root: Path, scale: Scale, kind: str, sigma: float, seed: int) -> SemanticGraph:
    """Graph, labels and the node-caption embedding cache, through mllbench's writers.

    Incremental: the graph is a function of the seed, so a rerun with more models
    writes only their labels (``label_is_current``) and embeds no caption again.
    """
    from mllbench.api import open_hub

    store = Store(root / "registry")
    graph = synthetic_graph(scale.nodes, scale.images_per_node, seed)
    save_graph(store, graph)
    for m in range(scale.models):
        model_id = f"synthetic-{m:04d}"
        if label_is_current(store, graph, model_id):
            continue
        if m >= scale.written:
            shutil.copyfile(store.label_path(f"synthetic-{m % scale.written:04d}"), store.label_path(model_id))
            continue
        captions, images = label_vectors(graph, kind, sigma, seed * 1000 + m)
        with Store.locked(store.label_path(model_id).parent), LabelWriter(store, graph, model_id, 2**16) as writer:
            writer.commit_captions(captions[writer.need_captions])
            for start in writer.pending():
                writer.commit(start, images[writer.need_images[start:start + writer.batch_size]])
            writer.finish()
    session = open_hub(str(benchmark_file(root, scale.models)), store.root, embedder="hashing").session
    session.embed(list(graph.captions))
    session.ensure([f"synthetic-{m:04d}" for m in range(scale.models)], [])  # records fingerprints: no write later
    return graph


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

    def io() -> dict[str, int]:
        return {k: int(v) for k, v in (line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())}

    hub = open_hub(bench, registry, embedder="hashing", captioner="template")
    info = hub.task(class_names(n_classes, seed))
    start = time.perf_counter()
    captions = [t for c in info.classnames for t in hub.session.captions(info, c)]
    hub.session.embed(captions)
    embed_s = time.perf_counter() - start
    before, start = io(), time.perf_counter()
    sel = hub.select(info)
    select_s = time.perf_counter() - start
    after = io()
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    print(json.dumps({"embed_s": embed_s, "select_s": select_s, "read_bytes": after["read_bytes"],
                      "rchar": after["rchar"], "select_read_bytes": after["read_bytes"] - before["read_bytes"],
                      "select_rchar": after["rchar"] - before["rchar"],
                      "peak_bytes": int(status["VmHWM"].split()[0]) * 1024, "shape": list(sel.scores.shape)}))


def measure(root: Path, n_models: int, n_classes: int, seed: int) -> dict:
    """One selection in a fresh subprocess on a cold page cache, with the load average it ran under.

    Peak memory is the child's own ``VmHWM``: ``wait4``'s ru_maxrss would include the
    parent's RSS at fork (Linux keeps the high-water mark across exec).
    """
    evict(root)
    cmd = [sys.executable, __file__, "--child", str(benchmark_file(root, n_models)), str(root / "registry"),
           str(n_classes), str(seed)]
    start = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
    return {**json.loads(out.strip().splitlines()[-1]), "process_s": time.perf_counter() - start,
            "models": n_models, "classes": n_classes, "load": os.getloadavg()[0]}


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


def label_stats(root: Path, graph: SemanticGraph) -> dict:
    """The first label's figures: own node among the top nodes, mean rivals listed, pairs with more."""
    import h5py

    with h5py.File(Store(root / "registry").label_path("synthetic-0000"), "r") as f:
        counts = block_counts(f["rival_blocks"][:], f["rival_block_at"][:-1], graph.n_images)
        return {"own_in_top": own_in_top(graph, f["top_nodes"][:]), "rivals": float(counts[:, 0].mean()),
                "overflow": float(counts[:, 2].mean()), "label_gb": f.id.get_filesize() / 1e9}


def run_kind(args: argparse.Namespace, kind: str, scale: Scale, sigma: float, log: Path) -> tuple[list, dict]:
    """Write one registry, measure its points (resuming from ``log``), delete it unless --keep."""
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    root = args.workdir / f"{kind}-v{scale.nodes}"
    start = time.perf_counter()
    graph = write_registry(root, scale, kind, sigma, args.seed)
    stats = {**label_stats(root, graph), "nodes": len(graph.wnids), "images": len(graph.image_refs),
             "pairs": len(graph.node_images), "write_s": time.perf_counter() - start}
    print(f"{kind}: {json.dumps(stats)}", file=sys.stderr)
    points = []
    for n_classes, counts in scale.measure.items():
        found = {n: next((p for p in done if (p["kind"], p["nodes"], p["models"], p["classes"])
                          == (kind, scale.nodes, n, n_classes)), None) for n in counts}
        todo = [n for n in counts if found[n] is None]
        runs: dict[int, list[dict]] = {n: [] for n in todo}
        for _ in range(args.repeat):  # the model counts in turn: the fit's points share the CPU's speed of the moment
            for n_models in todo:
                runs[n_models].append(measure(root, n_models, n_classes, args.seed))
        for n_models in todo:
            ordered = sorted(runs[n_models], key=lambda r: r["select_s"])
            found[n_models] = {"kind": kind, "nodes": scale.nodes, **ordered[len(ordered) // 2],
                               "select_s_runs": [r["select_s"] for r in ordered]}
            with log.open("a") as fh:
                fh.write(json.dumps(found[n_models]) + "\n")
        for n_models in counts:
            print(json.dumps(found[n_models]), file=sys.stderr)
            points.append(found[n_models])
    if not args.keep:
        shutil.rmtree(root)
    return points, stats


def table(points: list[dict], per_image: float, images_per_class: int) -> None:
    """The markdown table: measured rows, then 200 and 1,000 models fitted (``~``). Bytes: read from
    storage by ``Hub.select`` itself, and by the whole process (which first loads the text cache)."""
    print("| labels | models | classes | select wall (s): median (range) | class-caption embedding (s) "
          "| read by select (GB) "
          "| read by the process (GB) | peak RSS (GB) | load average | brute force, estimated (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    groups: dict[tuple, list[dict]] = {}
    for p in points:
        groups.setdefault((p["kind"], p["classes"]), []).append(p)
    for (kind, n_classes), pts in groups.items():
        for models in sorted({p["models"] for p in pts} | {200, 1000}):
            exact = next((p for p in pts if p["models"] == models), None)
            mark = "" if exact else "~"
            value = {k: exact[k] if exact else fit(pts, k, models)
                     for k in ("select_s", "read_bytes", "select_read_bytes")}
            load = f"{exact['load']:.1f}" if exact else "fitted"
            runs = exact.get("select_s_runs", [exact["select_s"]]) if exact else []
            spread = f" ({min(runs):.2f}-{max(runs):.2f})" if len(runs) > 1 else ""
            print(f"| {kind} | {models} | {n_classes} | {mark}{value['select_s']:.2f}{spread} "
                  f"| {pts[0]['embed_s']:.2f} "
                  f"| {mark}{value['select_read_bytes'] / 1e9:.3f} | {mark}{value['read_bytes'] / 1e9:.3f} "
                  f"| {max(p['peak_bytes'] for p in pts) / 1e9:.2f} | {load} "
                  f"| ~{per_image * n_classes * images_per_class * models:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/hubscale"),
                    help="where the synthetic registries are written (deleted at the end unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the registries for a rerun")
    ap.add_argument("--labels", nargs="+", default=["structured", "random"], choices=["structured", "random"])
    ap.add_argument("--embedded-registry", type=Path, default=None,
                    help="registry holding the embedded hub's labels (calibration; default: the CLI's)")
    ap.add_argument("--own-in-top", type=float, default=None,
                    help="the embedded hub's figure, if known (else read from its labels)")
    ap.add_argument("--models", type=int, default=49, help="label files (2 computed, the rest copies)")
    ap.add_argument("--nodes", type=int, default=9055)
    ap.add_argument("--classes", type=int, nargs="+", default=[1, 10, 100, 1000, 5000])
    ap.add_argument("--written", type=int, default=1, help="labels computed (the rest are copies of them)")
    ap.add_argument("--fit-models", type=int, default=10, help="a second model count measured, for the fit")
    ap.add_argument("--task-images-per-class", type=int, default=75, help="brute force: labelled images per class")
    ap.add_argument("--repeat", type=int, default=3,
                    help="selections per point, each cold in a fresh process: the table shows the median run "
                         "and the range (this machine's CPUs are shared, and times vary run to run)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    counts = tuple(sorted({min(args.fit_models, args.models), args.models}))
    scale = Scale(args.models, args.nodes, 75, {c: counts for c in args.classes}, args.written)
    print(f"registries under {args.workdir}; {machine()}", file=sys.stderr)
    args.workdir.mkdir(parents=True, exist_ok=True)
    target = args.own_in_top if args.own_in_top is not None else embedded_own_in_top(args.embedded_registry)
    sigma, share = calibrate(synthetic_graph(args.nodes, 75, args.seed), target, args.seed)
    print(f"calibration: own node among the top {TOP_NODES}: embedded hub {target:.3f}, synthetic sample "
          f"{share:.3f} at noise {sigma:.3f}", file=sys.stderr)
    points, stats = [], {}
    for kind in args.labels:
        found, stats[kind] = run_kind(args, kind, scale, sigma, args.workdir / "points.jsonl")
        points += found
    per_image = forward_seconds_per_image()
    print(f"\n## select at hub scale  ({machine()}; load average {os.getloadavg()[0]:.1f} at the end)\n")
    table(points, per_image, args.task_images_per_class)
    for kind, st in stats.items():
        print(f"\n{kind}: {st['nodes']} nodes, {st['images']} images, {st['pairs']} pairs; "
              f"label {st['label_gb']:.2f} GB; "
              f"own node among the top {TOP_NODES}: {st['own_in_top']:.3f} (embedded hub: {target:.3f}); "
              f"rivals per pair {st['rivals']:.1f}, pairs with more than listed {st['overflow']:.3f}")
    print(f"Brute force: {per_image * 1e3:.1f} ms per image per model (embedded hub's image towers, batch 32, "
          f"this CPU) x classes x {args.task_images_per_class} images x models.")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
