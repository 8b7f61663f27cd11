"""The ground truth: every hub model's zero-shot accuracy on the benchmark's tasks (the oracle
row of the leaderboard, the experiments' reference).

Reading never computes: ``leaderboard``, ``report`` and the other read-only commands take it
from what the registry holds (``cached_truth``) and say in one line which command computes
what is missing; only a run (``ground_truth(..., compute=True)``: the experiments) runs models.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mllbench.core.types import MllbenchError
from mllbench.pipeline.session import Session

COMPUTES = "`mllbench run --tasks all` computes them (it runs the models)"


def truth_gap(session: Session, tasks: Sequence[str]) -> str:
    """Why the ground truth of ``tasks`` cannot be read from the registry; "" when it can."""
    missing = session.bench.truth_missing(session, tasks)
    if not missing:
        return ""
    return (f"the registry lacks {missing} of the {len(session.bench.models) * len(tasks)} model × task "
            f"predictions the ground truth needs; {COMPUTES}")


def cached_truth(session: Session, tasks: Sequence[str]) -> tuple[np.ndarray | None, str]:
    """Every hub model's accuracy per task when the registry holds them all (a score table always
    does), else None and one line naming the command that computes them. Runs no model."""
    gap = truth_gap(session, tasks)
    if gap:
        return None, gap
    if not tasks:
        return None, "the benchmark has no target tasks"
    return session.bench.truth(session, tasks), ""


def ground_truth(session: Session, tasks: Sequence[str], compute: bool = False) -> np.ndarray:
    """Every hub model's zero-shot accuracy on every task: (n_models, n_tasks).

    Read from the registry; what it lacks is an error naming the command that computes it,
    unless ``compute`` (a run, not a read), which runs the models for it first.
    """
    if compute and session.bench.truth_missing(session, tasks):
        session.ensure(session.bench.model_ids, tasks, labels=False)
    gap = truth_gap(session, tasks)
    if gap:
        raise MllbenchError(gap)
    return session.bench.truth(session, tasks)
