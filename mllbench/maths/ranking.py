"""LOVM's ranking metrics (Zohar et al. 2023) and top-1 regret, for one task or many.

Accuracy after reuse says how good the chosen model was; these say how well a
selector *orders* the hub, which is what LOVM scores. Arrays in, numbers out:
``predicted`` is a selector's per-model score for a task, ``true`` every
model's ground-truth accuracy on it, both aligned with the hub. Ties are
broken by hub order (a stable sort), so results never depend on the platform.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

TOP = 5  # LOVM's list length (its NUM_RANK)


def top(values: np.ndarray, n: int = TOP) -> np.ndarray:
    """Indices of the ``n`` largest values, best first."""
    return np.argsort(-np.asarray(values, dtype=float), kind="stable")[:n]


def r5(predicted: np.ndarray, true: np.ndarray, n: int = TOP) -> float:
    """|top-n true ∩ top-n predicted| / n."""
    return len(set(top(predicted, n)) & set(top(true, n))) / n


def kendall_tau(predicted: np.ndarray, true: np.ndarray, n: int = TOP) -> float:
    """Kendall's tau-b over the models in both top-n lists; 0 when ≤ 2 are shared.

    The pairs are compared on predicted vs true values; a list with no
    untied pair also gives 0 (tau is undefined there).
    """
    common = sorted(set(top(predicted, n)) & set(top(true, n)))
    if len(common) <= 2:
        return 0.0
    p, t = np.asarray(predicted, float)[common], np.asarray(true, float)[common]
    i, j = np.triu_indices(len(common), 1)
    dp, dt = np.sign(p[i] - p[j]), np.sign(t[i] - t[j])
    denom = np.sqrt(np.count_nonzero(dp) * np.count_nonzero(dt))
    return float(np.sum(dp * dt) / denom) if denom else 0.0


def l1(predicted: np.ndarray, true: np.ndarray, n: int = TOP) -> float:
    """|mean over the predicted top n of (predicted − true)|; needs predicted accuracies."""
    chosen = top(predicted, n)
    return float(abs(np.mean(np.asarray(predicted, float)[chosen] - np.asarray(true, float)[chosen])))


def regret(predicted: np.ndarray, true: np.ndarray) -> float:
    """Best model's accuracy minus that of the selector's top model (≥ 0, lower is better)."""
    true = np.asarray(true, float)
    return float(true.max() - true[top(predicted, 1)[0]])


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "r5": r5, "tau": kendall_tau, "l1": l1, "regret": regret}
LOWER_IS_BETTER = frozenset({"l1", "regret"})  # errors; accuracy, r5 and tau are higher-better


def per_task(metric: str, predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``metric`` on each column of (n_models, n_tasks) predicted and true; average with np.mean."""
    return np.array([METRICS[metric](p, t) for p, t in zip(np.asarray(predicted).T, np.asarray(true).T)])
