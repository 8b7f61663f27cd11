"""A selector as mllbench 0.1's docs/plugins.md taught: a bare function with ad-hoc attributes,
imported from the old paths (``mllbench.types``). Contract version 1 keeps it working unchanged
(with DeprecationWarnings); do not modernise it, it is the test of that promise."""
import numpy as np

from mllbench import hookimpl
from mllbench.types import SelectionContext


def nearest_nodes(ctx: SelectionContext) -> np.ndarray:
    """Per class, each model's accuracy on the labelled graph nodes whose captions are nearest the
    class's captions (``ctx.params["nodes"]`` of them), plus a small term from its text tower."""
    nodes = ctx.labels.node_caption_embeddings()
    nodes = nodes / np.linalg.norm(nodes, axis=1, keepdims=True)
    labelled = np.flatnonzero(ctx.labels.n_images > 0)
    per_class = int(ctx.params.get("nodes", 2))
    scores = np.zeros((len(ctx.models), len(ctx.task.classnames)))
    for j, name in enumerate(ctx.task.classnames):
        query = ctx.embed(ctx.captions(ctx.task, name)).mean(0)
        chosen = labelled[np.argsort(-(nodes[labelled] @ query), kind="stable")[:per_class]]
        for m, model in enumerate(ctx.models):
            sim, image_node = ctx.labels.similarities(model.id, chosen)
            text = ctx.encode_text(model.id, [f"a photo of a {name}."])
            scores[m, j] = np.mean(sim.argmax(1) == image_node) + 1e-3 * float(text[0, 0])
    return scores


nearest_nodes.defaults = {"nodes": 2}


@hookimpl
def register_selectors(register):
    register("oldstyle", nearest_nodes)
