"""The MLL selector: reuse metric r_{m,y} from model labels (Eqs. 5-7).

Its options (declared in ``MLL.options``, the CLI's ``--alpha`` etc. are made from them):
``alpha`` (Eq. 7, default 0.7), ``nodes_per_class`` (graph nodes matched per class, default
5, the authors' code), ``normalize_z`` (default False: Z as printed).
"""
from __future__ import annotations

import numpy as np

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import repeat
from typing import Sequence

from threadpoolctl import threadpool_limits

from mllbench.contract import (class_precision, cosine, hookimpl, l2_normalize, LabelView, Option,
                               precision_from_hits, reuse_metric, SelectionContext, Selector, TaskInfo,
                               transfer_matrix)

ALTERNATIVES = 3  # next-best nodes shown per class by ``explain``
READERS = 8  # labels read and scored at once: each waits on the disk (kernel AIO) and on numpy with the GIL
# released; 8 measured faster than 4 or 16 on 2 cores. The result does not depend on which thread or BLAS
# kernel scored a label: near-ties are settled by tie_winners
AHEAD = 8  # labels opened ahead of their scoring, their first reads asked of the disk where they go through the
# page cache (LabelView.prefetch)
NO_NODES = np.zeros(0, np.int64)  # a prefetch of no nodes opens the label only


def class_caption_embeddings(ctx: SelectionContext) -> np.ndarray:
    """One vector per class: the normalised mean of its caption embeddings (D_T)."""
    captions = [ctx.captions(ctx.task, c) for c in ctx.task.classnames]
    flat = l2_normalize(ctx.embed([t for caps in captions for t in caps]))  # row by row: as per class, bit for bit
    bounds = np.cumsum([0] + [len(c) for c in captions])
    return l2_normalize(np.stack([flat[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])]))


def selected_node_hits(labels: LabelView, model_id: str, selected: np.ndarray,
                       pairs: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 5's (hits, images) per selected node for one model.

    ``pairs`` is ``labels.node_images(selected)``: the same for every model, so made once.
    The label's pair rivals decide each pair exactly (``labels.decided_hits``: only the
    selected nodes' pairs are read); the pairs they leave undecided (nodes beyond the listed
    rivals, a label held in memory) are scored densely (``labels.dense_hits``). Images the
    label lists as unreadable count in neither the hits nor the images.
    """
    images, image_node = pairs
    readable = labels.readable(model_id, images)  # an image that did not decode is in no X_v
    decided, hit = labels.decided_hits(model_id, selected)
    dense = ~decided & readable
    hit = hit & readable
    if dense.any():
        hit[dense] = labels.dense_hits(model_id, selected, (images[dense], image_node[dense]))
    return (np.bincount(image_node, weights=hit, minlength=len(selected)),
            np.bincount(image_node, weights=readable, minlength=len(selected)))


class MLL(Selector):
    """Model Label Learning's selection: each model's precision on the graph nodes matched to
    the task's classes (Eqs. 5-6), balanced with its overall precision (Eq. 7)."""

    name = "mll"
    options = (
        Option("alpha", "float", 0.7, "Eq. 7 balance of class vs overall precision.", min=0, max=1),
        Option("nodes_per_class", "int", 5, "Graph nodes matched to each class (Z).", min=1),
        Option("normalize_z", "bool", False, "Normalise Z's columns to sum to 1.", off_flag="--raw-z"),
    )

    def select(self, ctx: SelectionContext) -> np.ndarray:
        with ThreadPoolExecutor(1) as opener:  # each label opened while the classes are matched to nodes
            opener.map(ctx.labels.prefetch, [model.id for model in ctx.models], repeat(NO_NODES))
            return self._scores(ctx, *self._match(ctx, *self._embeddings(ctx)))[0]

    @staticmethod
    def _embeddings(ctx: SelectionContext) -> tuple[np.ndarray, np.ndarray]:
        """(the classes' caption embeddings D_T, the graph nodes')."""
        return class_caption_embeddings(ctx), ctx.labels.node_caption_embeddings()

    def _match(self, ctx: SelectionContext, classes: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Z's nodes, Z)."""
        params = {**self.defaults, **ctx.params}
        return transfer_matrix(classes, nodes, int(params["nodes_per_class"]), eligible=ctx.labels.n_images > 0,
                               normalize_z=bool(params["normalize_z"]))

    def _scores(self, ctx: SelectionContext, selected: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, list]:
        """Eq. 7's scores and each model's Eq. 5 (hits, images) per selected node."""
        pairs = ctx.labels.node_images(selected)
        ids = [model.id for model in ctx.models]

        def score(at: int) -> tuple[np.ndarray, np.ndarray]:
            if at + AHEAD < len(ids):  # the disk reads ahead while the readers compute
                ahead.submit(ctx.labels.prefetch, ids[at + AHEAD], selected)
            return selected_node_hits(ctx.labels, ids[at], selected, pairs)

        # one BLAS thread a reader: their products are small (~580 x 768 x 47 at 10 classes), and BLAS's
        # own threads would spin between them on the cores the other readers need (measured: 10 classes x
        # 49 models cost ~17 ms a label, not ~21)
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(1) as ahead, \
                ThreadPoolExecutor(READERS) as pool:
            for model_id in ids[:AHEAD]:
                ahead.submit(ctx.labels.prefetch, model_id, selected)
            evidence = list(pool.map(score, range(len(ids))))
        p_v = np.stack([precision_from_hits(*e) for e in evidence])
        return reuse_metric(class_precision(p_v, z), float({**self.defaults, **ctx.params}["alpha"])), evidence

    def explain(self, ctx: SelectionContext, k: int = 1, reference: Sequence[TaskInfo] = ()) -> dict:
        """Why each class got its models: the graph nodes it matched (and the next best), and per
        top-``k`` model the Eq. 5 counts behind its score. ``reference`` tasks (the benchmark's
        targets) give the best similarities a known class reaches, so a poorly covered class can be
        told apart; the caller turns them into a threshold and counts into intervals."""
        classes, nodes = self._embeddings(ctx)
        selected, z = self._match(ctx, classes, nodes)  # the class-node similarity apart: select needs only Z
        sim = np.where((ctx.labels.n_images > 0)[None, :], cosine(classes, nodes), -np.inf)  # -inf: no images
        scores, evidence = self._scores(ctx, selected, z)
        p_y = class_precision(np.stack([precision_from_hits(*e) for e in evidence]), z)
        labels, alpha = ctx.labels, float({**self.defaults, **ctx.params}["alpha"])
        width = int((z > 0).sum(0).max()) if z.size else 0

        def node(v: int, j: int) -> dict:
            return {"wnid": labels.wnids[v], "name": labels.names[v], "caption": labels.captions[v],
                    "similarity": float(sim[j, v]), "n_images": int(labels.n_images[v]),
                    "z": float(z[np.searchsorted(selected, v), j]) if v in selected else 0.0}
        classes = {}
        for j, c in enumerate(ctx.task.classnames):
            order = np.argsort(-sim[j], kind="stable")[:width + ALTERNATIVES]
            matched = [int(v) for v in order if v in selected and z[np.searchsorted(selected, v), j] > 0]
            rows = [int(np.searchsorted(selected, v)) for v in matched]
            models = []
            for m in np.argsort(-scores[:, j], kind="stable")[:k]:
                hits, images = evidence[m]
                models.append({"model": ctx.models[m].id, "score": float(scores[m, j]),
                               "class_precision": float(p_y[m, j]), "task_precision": float(p_y[m].mean()),
                               "alpha": alpha, "nodes": [{"wnid": labels.wnids[v], "correct": int(hits[r]),
                                                          "total": int(images[r])} for v, r in zip(matched, rows)]})
            classes[c] = {"best_similarity": float(sim[j].max()), "nodes": [node(v, j) for v in matched],
                          "alternatives": [node(int(v), j) for v in order if int(v) not in matched][:ALTERNATIVES],
                          "models": models}
        return {"classes": classes, "reference_best_similarities": self._reference(ctx, reference)}

    def _reference(self, ctx: SelectionContext, tasks: Sequence[TaskInfo]) -> list[float]:
        """The best node similarity of every class of ``tasks`` (memoised per session)."""
        key = ("mll-reference", tuple(t.name for t in tasks))
        if key not in ctx.memo:
            nodes, eligible = ctx.labels.node_caption_embeddings(), ctx.labels.n_images > 0
            sims = [cosine(class_caption_embeddings(replace(ctx, task=t)), nodes[eligible]) for t in tasks]
            ctx.memo[key] = [float(x) for s in sims for x in s.max(1)]
        return ctx.memo[key]


@hookimpl
def register_selectors(register):
    register(MLL.name, MLL())
