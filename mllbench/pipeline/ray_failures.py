"""What a failed Ray shard becomes: one line for the user, the whole error in the worker's log.

Ray hands the driver a worker's exception (``RayTaskError``, whose ``cause`` is the original)
but writes none of it to the worker's log, and its own text is a traceback under a header. So
a worker logs its error itself (``kept_in_worker_log``) and the driver turns the failure into
one ``MllbenchError`` line (``failure_line``): an out-of-memory names the model, its batch size
and the flags to change; every failure quotes the worker's own error and names the log file it
is kept in. Ray retries only work whose actor died (``max_retries``), never an error a model
raises, so only a dead actor's line speaks of restarts.
"""
from __future__ import annotations

import re
import traceback
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from mllbench.core.types import MllbenchError
from mllbench.pipeline.models import error_said, is_out_of_memory

if TYPE_CHECKING:
    from mllbench.pipeline.ray_executor import Unit
    from mllbench.pipeline.session import Session


@contextmanager
def kept_in_worker_log() -> Iterator[None]:
    """Print an error's traceback to this worker's stderr (Ray's ``worker-*-<pid>.err``, kept
    after the run), then let it go on to the driver."""
    try:
        yield
    except Exception:
        traceback.print_exc()
        raise


def failure_line(session: "Session", unit: "Unit", exc: Exception, max_retries: int) -> str:
    """The one line a failed shard becomes (see the module's docstring)."""
    import ray

    cause = getattr(exc, "cause", None)
    if isinstance(cause, MllbenchError):  # a user error names its own fix
        return f"on a Ray worker ({unit.model_id}): {cause}"
    said, log = error_said(exc), worker_log(exc)
    if is_out_of_memory(exc):
        return f"{session.models.out_of_memory([unit.model_id])}; the worker said {said}; its log: {log}"
    died = isinstance(exc, ray.exceptions.RayActorError) and not exc.actor_init_failed
    retried = f" after {max_retries} restarts" if died else ""
    return (f"a Ray worker failed on {unit.model_id} ({unit.kind}){retried}: {said}; its log: {log}; "
            "rerun to resume from what was committed")


def worker_log(exc: Exception) -> str:
    """The log file of the worker that raised ``exc`` (its pid and node, when Ray says them), else
    the folder of this Ray session's logs; Ray keeps both after the run."""
    pid, ip = getattr(exc, "pid", None), getattr(exc, "ip", None)
    header = re.search(r"\(pid=(\d+), ip=([^,)\s]+)", str(exc))  # a task error as its cause's type keeps only its text
    if pid is None and header:
        pid, ip = header.groups()
    where = f"{ray_logs()}/worker-*-{pid}.err" if pid else ray_logs()
    return f"{where} on node {ip}" if ip else where


def ray_logs() -> str:
    """The folder of this Ray session's logs (on a cluster, each node keeps its own workers' logs
    in its folder of the session)."""
    try:
        from ray._private.worker import _global_node

        return _global_node.get_logs_dir_path()
    except (ImportError, AttributeError):
        return "/tmp/ray/session_latest/logs"
