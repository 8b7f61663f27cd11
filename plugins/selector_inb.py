"""INB, the ImageNet baseline: every class gets the hub's best ImageNet model.

Its scores are ImageNet accuracies, which LOVM takes as INB's accuracy
prediction for any task; so it declares ``scores_are_accuracy`` and gets an L1.
"""
from __future__ import annotations

import numpy as np

from mllbench.contract import hookimpl, MllbenchError, SelectionContext, Selector


def imagenet_accuracy(ctx: SelectionContext) -> np.ndarray:
    try:
        return np.array([float(m.metadata["imagenet_acc"]) for m in ctx.models])
    except KeyError as exc:
        raise MllbenchError("INB needs `imagenet_acc` in every hub model's metadata") from exc


class INB(Selector):
    """The ImageNet baseline; no options. Its scores are accuracies (LOVM's L1 applies)."""

    name = "inb"

    def select(self, ctx: SelectionContext) -> np.ndarray:
        acc = imagenet_accuracy(ctx)
        return np.repeat(acc[:, None], len(ctx.task.classnames), axis=1)

    def scores_are_accuracy(self, params) -> bool:
        return True


@hookimpl
def register_selectors(register):
    register(INB.name, INB())
