"""The ground truth: every hub model's zero-shot accuracy on the benchmark's tasks (the oracle
row of the leaderboard, the experiments' reference)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mllbench.pipeline.session import Session


def ground_truth(session: Session, tasks: Sequence[str]) -> np.ndarray:
    """Every hub model's zero-shot accuracy on every task: (n_models, n_tasks)."""
    table = session.bench.table
    if table is not None:
        return table.accuracy[:, [table.column(t) for t in tasks]]
    ids = [m["id"] for m in session.bench.models]
    session.ensure(ids, tasks, labels=False)
    return np.array([[session.accuracy(m, t) for t in tasks] for m in ids])
