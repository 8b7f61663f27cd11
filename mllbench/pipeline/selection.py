"""Selection and reuse in a session: a selector's context, its scores, and Eqs. 8-10."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from mllbench.contract.options import check_params
from mllbench.core.types import MllbenchError, SelectionContext, TaskInfo
from mllbench.maths.reuse import reuse_ensemble
from mllbench.pipeline.evaluate import per_class_accuracy

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


class Selection:
    """Owns the memo selectors share across a session's tasks (``SelectionContext.memo``). Builds
    a selector's context (what differs by benchmark kind, the kind says: ``selection_inputs``),
    checks its scores' shape, and reuses the top-scored models on cached predictions."""

    def __init__(self, session: "Session"):
        self._session = session
        self.memo: dict = {}

    def context(self, task: str | TaskInfo, params: dict) -> SelectionContext:
        """A selector's view of a benchmark task (by name) or of a user's task (a TaskInfo in
        no benchmark definition: ``mllbench select --classes``, ``mllbench.api``)."""
        s = self._session
        info = task if isinstance(task, TaskInfo) else s.bench.task_info(task)
        labels, samples, sample_accuracy, precomputed = s.bench.selection_inputs(info, s)
        return SelectionContext(
            task=info, models=s.bench.model_infos, labels=labels,
            captions=s.captions, embed=s.embed, encode_text=s.encode_text, sample_tasks=samples,
            sample_accuracy=sample_accuracy, params=params, precomputed=precomputed, memo=self.memo)

    def prepare(self, method: str, tasks: Sequence[str | TaskInfo], params: dict) -> None:
        """Let a selector that declares ``prepare(contexts)`` batch its model work over all
        ``tasks`` before they are selected one by one (ModelGPT: each model loaded once)."""
        prepare = self._session.bench.host.selector(method).prepare
        if prepare is not None and tasks:
            prepare([self.context(t, params) for t in tasks])
            self._session.release_model()

    def select(self, method: str, task: str | TaskInfo, params: dict) -> np.ndarray:
        """The selector's (n_models, n_classes) scores for ``task``."""
        bench = self._session.bench
        selector = bench.host.selector(method)
        ctx = self.context(task, params)
        scores = np.asarray(selector.select(ctx), dtype=np.float64)
        expected = (len(bench.models), len(ctx.task.classnames))
        if scores.shape != expected:
            raise MllbenchError(f"selector {method!r} returned scores of shape {scores.shape}, "
                                f"expected (n_models, n_classes) = {expected}")
        return scores

    def reuse(self, task: str, scores: np.ndarray, k: int, logit_scale: float, weighting: str) -> dict:
        """Eqs. 8-10 on cached predictions; accuracy and what was reused."""
        s = self._session
        check_params({"k": k, "logit_scale": logit_scale}, len(s.bench.models))
        ids = s.bench.model_ids
        truth: list[np.ndarray] = []

        def sims_of(m: int) -> np.ndarray:
            sims, labels_ = s.predictions(task, ids[m])
            truth.append(labels_)
            return sims
        probs, used, chosen = reuse_ensemble(sims_of, scores, k, logit_scale, weighting)
        pred, labels = np.argmax(probs, 1), truth[0]
        info = s.bench.task_info(task)
        return {"accuracy": float(np.mean(pred == labels)), "n_images": int(len(labels)),
                "predictions": pred.tolist(), "labels": np.asarray(labels).tolist(),  # per test image
                "per_class": per_class_accuracy(pred, labels, len(info.classnames)),
                "models_used": [ids[m] for m in used],
                "selected": {c: [ids[m] for m in chosen[:, j]] for j, c in enumerate(info.classnames)}}
