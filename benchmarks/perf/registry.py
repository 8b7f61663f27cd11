"""Registry size per model label, extrapolated to the paper's scale, and read time.

A label stores each model's embedding of every graph image and node caption
(float16); the naive alternative stores the dense images x nodes similarity
matrix. Selection reads only the rows of a task's selected nodes; the naive
read loads the whole label.

    python benchmarks/perf/registry.py
"""
from __future__ import annotations

import h5py
import numpy as np

from common import open_session, report, timed

from mllbench.maths.mll import transfer_matrix
from mllbench.plugins.selector_mll import class_caption_embeddings

PAPER_NODES, PAPER_IMAGES_PER_NODE, PAPER_MODELS = 9055, 75, 49


def main() -> None:
    session = open_session()
    graph = session.graph()
    ids = [m["id"] for m in session.bench.models]
    session.ensure(ids, [])
    paths = [session.store.label_path(m) for m in ids]
    n_images, n_nodes = len(graph.image_refs), len(graph.wnids)
    sizes = np.array([p.stat().st_size for p in paths])
    with h5py.File(paths[0], "r") as f:
        dim = f["image_emb"].shape[1]
    per_row = sizes.mean() / (n_images + n_nodes)
    paper_rows = PAPER_NODES * PAPER_IMAGES_PER_NODE + PAPER_NODES
    rows = [
        (f"embedded: {n_nodes} nodes, {n_images} images, d = {dim}", f"{sizes.mean() / 1e6:.2f} MB per model label "
                                                                    f"({per_row:.0f} B per image or caption row)"),
        ("embedded dense images x nodes float16 (naive)", f"{n_images * n_nodes * 2 / 1e6:.1f} MB per model "
                                                          f"({n_images * n_nodes * 2 / sizes.mean():.0f}x)"),
    ]
    for d in (512, 768, 1024):
        label = paper_rows * d * 2
        dense = PAPER_NODES * PAPER_IMAGES_PER_NODE * PAPER_NODES * 2
        rows.append((f"paper scale, d = {d}", f"{label / 1e9:.2f} GB per model, {label * PAPER_MODELS / 1e9:.0f} GB "
                                               f"for {PAPER_MODELS} models; dense {dense / 1e9:.1f} GB per model "
                                               f"({dense / label:.0f}x)"))

    ctx = session.context(session.bench.targets[0]["name"], {})
    selected, _ = transfer_matrix(class_caption_embeddings(ctx), ctx.labels.node_caption_embeddings(), 5,
                                  eligible=ctx.labels.n_images > 0)
    fresh = open_session().labels()
    _, sel_s = timed(lambda: [fresh.similarities(m, selected) for m in ids])
    _, full_s = timed(lambda: [h5py.File(p, "r")["image_emb"][:] for p in paths])
    rows += [
        (f"read selected nodes of {ctx.task.name} ({len(selected)} nodes), {len(ids)} models",
         f"{sel_s * 1e3:.0f} ms (incl. opening the files and the cosine)"),
        ("read every label whole (naive)", f"{full_s * 1e3:.0f} ms ({full_s / sel_s:.1f}x)"),
        ("bytes read, selected / whole", f"{len(np.unique(np.concatenate([graph.images_of(v) for v in selected])))}"
                                         f" of {n_images} image rows; at the paper's scale "
                                         f"~{len(selected) * PAPER_IMAGES_PER_NODE} of {paper_rows - PAPER_NODES}"),
    ]
    report("registry", rows)


if __name__ == "__main__":
    main()
