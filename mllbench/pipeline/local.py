"""The ``local`` executor: labeling and prediction caching in this process, models sharing a
transform labelled in one pass over the images (``passes.py``); and ``missing``, the work any
executor does, which the ``ray`` executor shares."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from mllbench.core.types import MllbenchError, VisionLanguageModel
from mllbench.pipeline.evaluate import predict
from mllbench.pipeline.labeling import adopt_label, label_model, label_status
from mllbench.pipeline.models import collect, error_said, is_out_of_memory
from mllbench.pipeline.passes import DEFAULT_MODELS_PER_PASS, default_workers, label_group, plan

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
        current, recorded = label_status(session.store, graph, model_id, made) if graph is not None else (True, True)
        if not recorded and current:
            adopt_label(session.store, model_id, made)
        label = not current
        todo = [t for t in tasks if not session.has_predictions(t, model_id)]
        if label or todo:
            out.append((model_id, label, todo))
    return out


class LocalExecutor:
    """In this process: models that share a transform labelled together (``passes.py``: at most
    ``models_per_pass`` loaded at once, ``decode_workers`` decoding processes), then each model's
    predictions while it is loaded; a model that shares nothing, one at a time."""

    def __init__(self, models_per_pass: int = DEFAULT_MODELS_PER_PASS, decode_workers: int | None = None,
                 **options: Any):
        if options:
            raise MllbenchError(f"the local executor takes no options {', '.join(options)}; "
                                "use --executor ray for cluster options")
        if models_per_pass < 1 or (decode_workers is not None and decode_workers < 0):
            raise MllbenchError(f"--models-per-pass is at least 1 and --decode-workers at least 0 "
                                f"(got {models_per_pass}, {decode_workers})")
        self.models_per_pass = models_per_pass
        self.workers = default_workers() if decode_workers is None else decode_workers

    def ensure(self, session: "Session", model_ids: Sequence[str], tasks: Sequence[str],
               labels: bool = True) -> None:
        """Each group of models with work left: labelled together, then run on their tasks, then freed."""
        work = {model_id: (label, todo) for model_id, label, todo in missing(session, model_ids, tasks, labels)}
        for group in plan(session, [m for m in work if work[m][0]], self.models_per_pass):
            loaded: dict[str, VisionLanguageModel] = {}
            try:
                loaded = label_group(session, group, self.workers) if len(group) > 1 else {}
                for model_id in group:
                    self._model_work(session, model_id, len(group) == 1, work[model_id][1], loaded.get(model_id))
            except (RuntimeError, MemoryError) as exc:
                self._out_of_memory(session, group, exc)
            finally:
                loaded.clear()
                collect()
        for model_id in (m for m in work if not work[m][0]):
            try:
                self._model_work(session, model_id, False, work[model_id][1])
            except (RuntimeError, MemoryError) as exc:
                self._out_of_memory(session, [model_id], exc)
        session.release_model()

    @staticmethod
    def _out_of_memory(session: "Session", group: list[str], exc: BaseException) -> None:
        """Re-raise ``exc`` unless it is torch running out of memory, which becomes one line naming the
        fix and quoting the error (what it tried to allocate, on which device)."""
        if not is_out_of_memory(exc):
            raise exc
        session.release_model()
        raise MllbenchError(f"{session.models.out_of_memory(group)}; the error: {error_said(exc)}") from exc

    @staticmethod
    def _model_work(session: "Session", model_id: str, label: bool, todo: list[str],
                    model: VisionLanguageModel | None = None) -> None:
        """One model's label (unless its group labelled it) and predictions, with its own batch size
        and fingerprint; ``model``: the group's copy, already loaded."""
        batch_size, made = session.models.batch_size(model_id), session.models.run_fingerprint(model_id)
        if label:
            graph = session.graph()
            update = session.report(f"label {model_id}", len(graph.image_refs))
            label_model(session.store, graph, model_id, lambda: session.model(model_id),
                        session.open_image, batch_size, update, made)
        for task in todo:
            ds = session.bench.dataset(task)
            update = session.report(f"predict {model_id} on {task}", len(ds))
            predict(session.store, ds, model_id, model or session.model(model_id), batch_size, update, made)

    def close(self) -> None:
        pass
