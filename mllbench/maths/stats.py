"""Uncertainty for leaderboards: seeded percentile bootstrap, paired sign-flip test and interval, ranks.

A leaderboard cell is a mean over a task's test images (accuracy: 1 where the
prediction is right), or over datasets for LOVM's ranking metrics. Units are
the things a rerun on new data would redraw, so they are what is resampled:

- ``bootstrap`` draws, per replicate, every group's units with replacement,
  each group independently; the mean over groups of a replicate is the
  replicate of the average (tasks are all resampled at once, never reweighted).
- a paired comparison of A and B on the same units is ONE procedure,
  ``sign_flip``: swapping A and B per unit is the null hypothesis "A and B are
  exchangeable" (a permutation test, valid at any sample size, p = 1 when
  A == B), and its interval is that test inverted (every shift it does not
  reject), so "the 95 % interval excludes 0" and "p < 0.05" are one verdict.

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


def sign_flip(diffs: Sequence[np.ndarray], resamples: int = RESAMPLES, seed: int = SEED,
              level: float = LEVEL) -> dict:
    """One paired verdict: T, the mean over groups of each group's mean difference, with a
    two-sided sign-flip p and the interval made by inverting that same test.

    Each replicate flips the sign of every unit's difference at random (swaps
    A and B); p = (1 + #{|T*| ≥ |T|}) / (1 + resamples), never 0, 1 when every
    difference is 0. The interval is every shift δ the test does not reject at
    1 − ``level`` (the test of d − δ on the same flips): so it excludes 0 exactly
    when p < 1 − ``level`` — the interval and the p-value cannot disagree. A
    replicate's flipped statistic is T*(δ) = A − δB (A: flipped mean, B: flipped
    weights), so it counts as extreme for δ in one closed interval that always
    holds T, found in closed form; units of a group sharing a value are drawn as
    one Binomial(c, ½), so the cost is a number per distinct value, not per image.
    """
    groups = [np.unique(np.asarray(d, dtype=np.float64), return_counts=True) for d in diffs if len(d)]
    v = np.concatenate([g[0] for g in groups]) if groups else np.zeros(0)
    c = np.concatenate([g[1] for g in groups]) if groups else np.zeros(0, dtype=np.int64)
    w = np.concatenate([np.full(len(g[0]), 1 / (g[1].sum() * len(groups))) for g in groups]) if groups else v
    observed = float(c @ (w * v))
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK // max(len(c), 1))
    signed = np.concatenate([2 * rng.binomial(c.astype(np.int64), 0.5, size=(min(step, resamples - i), len(c))) - c
                             for i in range(0, resamples, step)])
    a, b = signed @ (w * v), signed @ w
    ties = np.abs(np.abs(a) - abs(observed)) <= 1e-9 * abs(observed)
    a = np.where(ties, np.sign(a) * abs(observed), a)  # |T*| = |T| exactly: a tie counts as extreme
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.sort([(a - observed) / (b - 1), (a + observed) / (b + 1)], axis=0)
    whole = np.abs(b) >= 1 - 1e-12  # every unit flipped alike: |T*(δ)| = |T(δ)| for every δ
    lo_r = np.where(whole, -np.inf, np.minimum(roots[0], observed))
    hi_r = np.where(whole, np.inf, np.maximum(roots[1], observed))
    p = (1 + int(np.count_nonzero((lo_r <= 0) & (0 <= hi_r)))) / (1 + resamples)
    need = _least_extreme(1 - level, resamples)
    lo = float(np.sort(lo_r)[need - 1]) if need else -np.inf
    hi = float(np.sort(hi_r)[::-1][need - 1]) if need else np.inf
    return {"diff": observed, "lo": lo, "hi": hi, "p": 1.0 if observed == 0 else p}


def _least_extreme(alpha: float, resamples: int) -> int:
    """The fewest extreme replicates k with (1 + k) / (1 + resamples) ≥ alpha (p's own arithmetic)."""
    k = max(0, int(np.ceil(alpha * (1 + resamples))) - 1)
    while (1 + k) / (1 + resamples) < alpha:
        k += 1
    while k and k / (1 + resamples) >= alpha:
        k -= 1
    return k


def sign_flip_p(diffs: Sequence[np.ndarray], resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """The two-sided sign-flip p of ``sign_flip`` alone (the leaderboard's ≈ marks)."""
    return sign_flip(diffs, resamples, seed)["p"]


def paired(a: Sequence[np.ndarray], b: Sequence[np.ndarray], resamples: int = RESAMPLES,
           seed: int = SEED, level: float = LEVEL) -> list[dict]:
    """A − B per group and on the average (last entry): diff, lo, hi, p of one ``sign_flip`` each.

    ``a[j]`` and ``b[j]`` are per-unit outcomes on the same units in the same order.
    """
    diffs = [np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64) for x, y in zip(a, b)]
    return [*(sign_flip([d], resamples, seed, level) for d in diffs), sign_flip(diffs, resamples, seed, level)]


def wilson(correct: int, total: int, level: float = LEVEL) -> tuple[float, float]:
    """The Wilson score interval of a proportion correct/total (NaN for no trial): unlike the
    normal approximation it stays inside [0, 1] and is not empty at 0/n or n/n, as Eq. 5's
    small per-node counts often are."""
    if total <= 0:
        return float("nan"), float("nan")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p, n = correct / total, total
    centre, half = (p + z * z / (2 * n)), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, (centre - half) / (1 + z * z / n))), float(min(1.0, (centre + half) / (1 + z * z / n)))


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
