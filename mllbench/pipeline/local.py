"""The ``local`` executor: labeling and prediction caching in this process, one model at a time;
and ``missing``, the work any executor does, which the ``ray`` executor shares."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from mllbench.core.types import MllbenchError
from mllbench.pipeline.evaluate import predict
from mllbench.pipeline.labeling import adopt_label, label_is_current, label_model
from mllbench.pipeline.models import is_out_of_memory, out_of_memory

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


def missing(session: "Session", model_ids: Sequence[str], tasks: Sequence[str],
            labels: bool) -> list[tuple[str, bool, list[str]]]:
    """(model, needs its label, tasks lacking its predictions) for each model with work left.
    A current label made before fingerprints gets the model's recorded (``adopt_label``)."""
    graph = session.graph() if labels else None
    out = []
    for model_id in model_ids:
        made = session.models.fingerprint(model_id)
        label = graph is not None and not label_is_current(session.store, graph, model_id, made)
        if graph is not None and not label:
            adopt_label(session.store, model_id, made)
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
            try:
                self._model_work(session, model_id, label, todo)
            except (RuntimeError, MemoryError) as exc:
                if not is_out_of_memory(exc):
                    raise
                session.release_model()
                options = session.models.options(model_id)
                raise MllbenchError(out_of_memory(model_id, session.models.batch_size(model_id),
                                                  options.get("precision"))) from exc
        session.release_model()

    @staticmethod
    def _model_work(session: "Session", model_id: str, label: bool, todo: list[str]) -> None:
        """One model's label and predictions, with its own batch size and fingerprint."""
        batch_size, made = session.models.batch_size(model_id), session.models.run_fingerprint(model_id)
        if label:
            graph = session.graph()
            update = session.report(f"label {model_id}", len(graph.image_refs))
            label_model(session.store, graph, model_id, lambda: session.model(model_id),
                        session.open_image, batch_size, update, made)
        for task in todo:
            ds = session.bench.dataset(task)
            update = session.report(f"predict {model_id} on {task}", len(ds))
            predict(session.store, ds, model_id, session.model(model_id), batch_size, update, made)

    def close(self) -> None:
        pass
