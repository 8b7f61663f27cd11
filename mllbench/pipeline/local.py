"""The ``local`` executor: labeling and prediction caching in this process, one model at a time;
and ``missing``, the work any executor does, which the ``ray`` executor shares."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from mllbench.core.types import MllbenchError
from mllbench.pipeline.evaluate import predict
from mllbench.pipeline.labeling import label_is_current, label_model

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


def missing(session: "Session", model_ids: Sequence[str], tasks: Sequence[str],
            labels: bool) -> list[tuple[str, bool, list[str]]]:
    """(model, needs its label, tasks lacking its predictions) for each model with work left."""
    graph = session.graph() if labels else None
    out = []
    for model_id in model_ids:
        label = graph is not None and not label_is_current(session.store, graph, model_id)
        todo = [t for t in tasks if not session.has_predictions(t, model_id)]
        if label or todo:
            out.append((model_id, label, todo))
    return out


class LocalExecutor:
    """In this process, one model loaded at a time."""

    def __init__(self, **options: Any):
        if options:
            raise MllbenchError(f"the local executor takes no options (got {', '.join(options)}); "
                                "use --executor ray for cluster options")

    def ensure(self, session: "Session", model_ids: Sequence[str], tasks: Sequence[str],
               labels: bool = True) -> None:
        """Each model with work left: loaded once, labelled and run on its tasks, then freed."""
        for model_id, label, todo in missing(session, model_ids, tasks, labels):
            if label:
                graph = session.graph()
                update = session.report(f"label {model_id}", len(graph.image_refs))
                label_model(session.store, graph, model_id, lambda: session.model(model_id),
                            session.open_image, session.batch_size, update)
            for task in todo:
                ds = session.bench.dataset(task)
                update = session.report(f"predict {model_id} on {task}", len(ds))
                predict(session.store, ds, model_id, session.model(model_id), session.batch_size, update)
        session.release_model()

    def close(self) -> None:
        pass
