"""Uncertainty for leaderboards: seeded percentile bootstrap, paired sign-flip test, rank aggregates.

A leaderboard cell is a mean over a task's test images (accuracy: 1 where the
prediction is right), or over datasets for LOVM's ranking metrics. Units are
the things a rerun on new data would redraw, so they are what is resampled:

- ``bootstrap`` draws, per replicate, every group's units with replacement,
  each group independently; the mean over groups of a replicate is the
  replicate of the average (tasks are all resampled at once, never reweighted).
- a paired comparison of A and B on the same units is the same bootstrap of
  the per-unit differences A − B, plus ``sign_flip_p``: swapping A and B per
  unit is the null hypothesis "A and B are exchangeable" (a permutation test,
  valid at any sample size, p = 1 when A == B).

Arrays in, numbers out; seeded, so a leaderboard prints the same intervals
on every machine. No scipy: numpy only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

LEVEL = 0.95
RESAMPLES = 1000
SEED = 0
_CHUNK = 1 << 22  # random numbers drawn at once; bounds memory at any test-set size


def resampled_means(units: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples,) means of ``units`` drawn n times with replacement.

    Drawn as multinomial counts of the distinct values (the same distribution
    as drawing indices), so 0/1 outcomes of 50,000 images cost 2 numbers per
    replicate, not 50,000.
    """
    values, counts = np.unique(np.asarray(units, dtype=np.float64), return_counts=True)
    n = counts.sum()
    step = max(1, _CHUNK // len(values))
    draws = [rng.multinomial(n, counts / n, size=min(step, resamples - i)) for i in range(0, resamples, step)]
    return np.concatenate(draws) @ values / n


def bootstrap(groups: Sequence[np.ndarray | None], resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, n_groups) replicates of each group's mean; NaN for a None group.

    Group ``j`` draws from ``np.random.default_rng([seed, j])``, so its
    replicates do not depend on the other groups; ``.mean(1)`` is the
    replicate of the average over groups.
    """
    out = np.full((resamples, len(groups)), np.nan)
    for j, units in enumerate(groups):
        if units is not None and len(units):
            out[:, j] = resampled_means(units, resamples, np.random.default_rng([seed, j]))
    return out


def interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of 1-D replicates: (lo, hi); NaN when any replicate is."""
    replicates = np.asarray(replicates, dtype=np.float64)
    if not len(replicates) or np.isnan(replicates).any():
        return float("nan"), float("nan")
    lo, hi = np.percentile(replicates, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def sign_flip_p(diffs: Sequence[np.ndarray], resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """Two-sided p of T, the mean over groups of each group's mean paired difference.

    Each replicate flips the sign of every unit's difference at random (swaps
    A and B); p = (1 + #{|T*| ≥ |T|}) / (1 + resamples), so never 0, and 1
    when every difference is 0. A flipped difference is ±|d| whatever d's
    sign, so the c units sharing a weighted |d| add up to |d| (2 Binomial(c, ½) − c):
    drawn that way, the same distribution costs a number per distinct |d|, not per image.
    """
    weighted = [np.asarray(d, dtype=np.float64) / (len(d) * len(diffs)) for d in diffs if len(d)]
    observed = abs(sum(float(w.sum()) for w in weighted))
    if observed == 0:
        return 1.0
    values, counts = np.unique(np.abs(np.concatenate(weighted)), return_counts=True)
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK // len(values))
    hits = 0
    for i in range(0, resamples, step):
        heads = rng.binomial(counts, 0.5, size=(min(step, resamples - i), len(values)))
        hits += int(np.count_nonzero(np.abs((2 * heads - counts) @ values) >= observed * (1 - 1e-9)))
    return (1 + hits) / (1 + resamples)


def paired(a: Sequence[np.ndarray], b: Sequence[np.ndarray], resamples: int = RESAMPLES,
           seed: int = SEED, level: float = LEVEL) -> list[dict]:
    """A − B per group and on the average (last entry): diff, lo, hi (paired bootstrap), p (sign flip).

    ``a[j]`` and ``b[j]`` are per-unit outcomes on the same units in the same order.
    """
    diffs = [np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64) for x, y in zip(a, b)]
    reps = bootstrap(diffs, resamples, seed)
    rows = []
    for j, d in enumerate(diffs):
        lo, hi = interval(reps[:, j], level)
        rows.append({"diff": float(d.mean()), "lo": lo, "hi": hi, "p": sign_flip_p([d], resamples, seed)})
    lo, hi = interval(reps.mean(1), level)
    rows.append({"diff": float(np.mean([d.mean() for d in diffs])), "lo": lo, "hi": hi,
                 "p": sign_flip_p(diffs, resamples, seed)})
    return rows


def average_ranks(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """(n_rows, n_cols) rank of each row within each column, 1 = best, ties share their mean rank;
    NaN cells are left out of their column's ranking and stay NaN."""
    values = np.asarray(values, dtype=np.float64)
    ranks = np.full(values.shape, np.nan)
    for c in range(values.shape[1]):
        present = np.flatnonzero(~np.isnan(values[:, c]))
        v = values[present, c] * (-1 if higher_is_better else 1)
        below = (v[None, :] < v[:, None]).sum(1)  # rows strictly better
        tied = (v[None, :] == v[:, None]).sum(1)
        ranks[present, c] = below + (tied + 1) / 2
    return ranks


def win_rates(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """(n_rows, n_rows): the fraction of the columns both rows have where row i beats row j
    (a tie counts one half, so [i, j] + [j, i] = 1); NaN on the diagonal and where none is shared."""
    values = np.asarray(values, dtype=np.float64) * (1 if higher_is_better else -1)
    a, b = values[:, None, :], values[None, :, :]
    both = ~(np.isnan(a) | np.isnan(b))
    score = np.where(both, (a > b) + 0.5 * (a == b), 0.0).sum(-1)
    shared = both.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(shared > 0, score / np.maximum(shared, 1), np.nan)
    np.fill_diagonal(out, np.nan)
    return out
