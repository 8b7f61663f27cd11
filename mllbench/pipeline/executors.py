"""Where labeling and zero-shot prediction caching run, by name (``--executor``): ``local`` (in
this process, one model at a time: ``local.LocalExecutor``) or ``ray`` (a Ray cluster:
``ray_executor``). An executor fills what the registry lacks for a set of models and tasks
(``Session.ensure``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from mllbench.core.types import MllbenchError
from mllbench.pipeline.ray_executor import RayExecutor, import_ray, local_threads  # noqa: F401 - by name here
from mllbench.pipeline.local import LocalExecutor

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


class Executor(Protocol):
    """Fills what the registry lacks (labels, predictions) for models and tasks; ``close`` frees
    what it holds (a cluster's actors)."""

    def ensure(self, session: "Session", model_ids: Sequence[str], tasks: Sequence[str],
               labels: bool = True) -> None: ...

    def close(self) -> None: ...


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(name: str, **options: Any) -> Executor:
    """An executor by name (``--executor``); unset options take the executor's defaults."""
    if name not in EXECUTORS:
        raise MllbenchError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")
    return EXECUTORS[name](**{k: v for k, v in options.items() if v is not None})
