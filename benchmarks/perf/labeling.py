"""Labeling throughput, shared preprocessing, and how labeling cost grows.

- images/s per model, decoding + preprocessing each image once per model
  (what ``label_model`` does) vs. once per transform shared by all models
  that use the same transform (measured here by preprocessing once and
  running each image tower on the shared batch);
- cost against images (nodes x images per node) and models: seconds per
  image-model should stay flat (linear growth);
- adding a model to a labelled hub labels that model only.

    python benchmarks/perf/labeling.py [n_images]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from common import open_session, report, timed

from mllbench.pipeline.labeling import label_model
from mllbench.registry.store import Store


def main(n_images: int = 512) -> None:
    session = open_session()
    graph = session.graph()
    ids = [m["id"] for m in session.bench.models]
    refs = graph.image_refs[:n_images]

    models = {}
    per_model, forward = {}, {}
    for m in ids:
        models[m] = model = session.bench.load_model(m)
        _, per_model[m] = timed(lambda: model.encode_images([session.open_image(r) for r in refs]))
    import torch

    groups: dict[str, list[str]] = {}
    for m, model in models.items():
        groups.setdefault(repr(model.preprocess), []).append(m)
    shared_s = 0.0
    for members in groups.values():
        prep = models[members[0]].preprocess
        batch, prep_s = timed(lambda: torch.stack([prep(session.open_image(r).convert("RGB")) for r in refs]))
        shared_s += prep_s
        for m in members:
            bs = models[m].batch_size  # the same batches encode_images runs
            _, forward[m] = timed(lambda: [models[m]._run(models[m].model.encode_image, batch[i:i + bs])
                                           for i in range(0, len(batch), bs)])
    separate_s = sum(per_model.values())
    shared_total = shared_s + sum(forward.values())
    rows = [(m, f"{n_images / per_model[m]:6.0f} img/s alone, {n_images / forward[m]:6.0f} img/s tower only")
            for m in ids]
    rows += [
        (f"{len(ids)} models, {n_images} images, decode+preprocess per model", f"{separate_s:.2f} s"),
        (f"shared per transform ({len(groups)} distinct transform(s))", f"{shared_total:.2f} s "
                                                                        f"(ratio {separate_s / shared_total:.2f}x)"),
    ]
    report("labeling throughput", rows)

    model = models[ids[0]]
    scale = []
    for n in (n_images // 4, n_images // 2, n_images):
        _, s = timed(lambda: model.encode_images([session.open_image(r) for r in graph.image_refs[:n]]))
        scale.append((f"{ids[0]}: {n} images", f"{s:.2f} s = {s / n * 1e3:.2f} ms per image"))
    for k in (1, 3, len(ids)):
        s = sum(per_model[m] for m in ids[:k])
        scale.append((f"{k} model(s) x {n_images} images", f"{s:.2f} s = {s / (k * n_images) * 1e3:.2f} ms per image-model"))
    report("labeling cost vs images and models (linear: per-unit cost flat)", scale)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        status = {}
        for m in ids[:2]:
            status[m], status[m + " s"] = timed(lambda: label_model(store, graph, m, lambda: models[m], session.open_image))
        again, again_s = timed(lambda: label_model(store, graph, ids[0], lambda: models[ids[0]], session.open_image))
    report(f"adding a model to a labelled hub ({len(graph.image_refs)} images, {len(graph.wnids)} nodes)", [
        (f"label {ids[0]}", f"{status[ids[0] + ' s']:.1f} s ({status[ids[0]]})"),
        (f"then add {ids[1]}", f"{status[ids[1] + ' s']:.1f} s ({status[ids[1]]}; {ids[0]} untouched)"),
        (f"{ids[0]} again", f"{again_s:.2f} s ({again})"),
    ])


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
