"""The MLL selector: reuse metric r_{m,y} from model labels (Eqs. 5-7).

Its options (declared in ``MLL.options``, the CLI's ``--alpha`` etc. are made from them):
``alpha`` (Eq. 7, default 0.7), ``nodes_per_class`` (graph nodes matched per class, default
5, the authors' code), ``normalize_z`` (default False: Z as printed).
"""
from __future__ import annotations

import numpy as np

from mllbench.contract import (class_precision, hookimpl, l2_normalize, LabelView, node_hits, Option,
                               precision_from_hits, reuse_metric, SelectionContext, Selector, top_node_hits,
                               TOP_NODES_MIN_WORK, transfer_matrix)


def class_caption_embeddings(ctx: SelectionContext) -> np.ndarray:
    """One vector per class: the normalised mean of its caption embeddings (D_T)."""
    captions = [ctx.captions(ctx.task, c) for c in ctx.task.classnames]
    flat = ctx.embed([t for caps in captions for t in caps])
    bounds = np.cumsum([0] + [len(c) for c in captions])
    return l2_normalize(np.stack([l2_normalize(flat[a:b]).mean(0) for a, b in zip(bounds[:-1], bounds[1:])]))


def selected_node_hits(labels: LabelView, model_id: str, selected: np.ndarray,
                       pairs: tuple[np.ndarray, np.ndarray],
                       min_work: int = TOP_NODES_MIN_WORK) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 5's (hits, images) per selected node for one model.

    ``pairs`` is ``labels.node_images(selected)``: the same for every model, so made once.
    Dense when images x |V^Selected| is at most ``min_work`` (bit for bit the full matrix's
    argmax, as the embedded benchmark's tasks are); above, from the label's top nodes, with
    only the images none of whose top nodes is selected scored densely.
    """
    images, image_node = pairs
    correct, dense = np.zeros(len(selected)), np.ones(len(images), bool)
    if len(images) * len(selected) > min_work:
        in_selected = np.zeros(len(labels.wnids), bool)
        in_selected[selected] = True
        decided, hit = top_node_hits(labels.top_nodes(model_id, images), selected[image_node], in_selected)
        correct, dense = np.bincount(image_node, weights=hit, minlength=len(selected)), ~decided
    if dense.any():
        for sim, node in labels.similarity_blocks(model_id, selected, pairs=(images[dense], image_node[dense])):
            correct += node_hits(sim, node, len(selected))[0]
    return correct, np.bincount(image_node, minlength=len(selected)).astype(np.float64)


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
        params = {**self.defaults, **ctx.params}
        selected, z = transfer_matrix(class_caption_embeddings(ctx), ctx.labels.node_caption_embeddings(),
                                      int(params["nodes_per_class"]), eligible=ctx.labels.n_images > 0,
                                      normalize_z=bool(params["normalize_z"]))
        pairs = ctx.labels.node_images(selected)
        p_v = []
        for model in ctx.models:  # one model's label in memory at a time, its images in blocks
            p_v.append(precision_from_hits(*selected_node_hits(ctx.labels, model.id, selected, pairs)))
        return reuse_metric(class_precision(np.stack(p_v), z), float(params["alpha"]))


@hookimpl
def register_selectors(register):
    register(MLL.name, MLL())
