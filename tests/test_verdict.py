"""One verdict per comparison: the paired interval and p come from one sign-flip test, so they agree.

The interval excludes 0 exactly when p < 0.05, on many random pairs (one task and
several, close and far apart), and the leaderboard's ≈ mark, ``compare`` and the
stats function give the same p for the same pair.
"""
import numpy as np
import pytest

from mllbench.maths.stats import paired, sign_flip, sign_flip_p
from mllbench.report.leaderboard import SIGNIFICANCE, TIED, board, compare


def _pair(rng: np.random.Generator, n_tasks: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    sizes = rng.integers(5, 120, n_tasks)
    base = rng.uniform(0.3, 0.9, n_tasks)
    gap = rng.normal(0, 0.08, n_tasks)
    a = [(rng.random(n) < p).astype(float) for n, p in zip(sizes, base)]
    b = [(rng.random(n) < np.clip(p - g, 0, 1)).astype(float) for n, p, g in zip(sizes, base, gap)]
    return a, b


def test_interval_excludes_zero_iff_p_below_005_on_random_pairs():
    rng = np.random.default_rng(11)
    seen = {True: 0, False: 0}
    for trial in range(400):
        a, b = _pair(rng, int(rng.integers(1, 5)))
        for row in paired(a, b, resamples=1000, seed=trial):
            excludes = not (row["lo"] <= 0 <= row["hi"])
            assert excludes == (row["p"] < SIGNIFICANCE), row
            assert row["lo"] <= row["diff"] <= row["hi"]
            seen[excludes] += 1
    assert min(seen.values()) > 50  # both verdicts were exercised, not one side only


def test_verdict_at_other_levels_and_resamples():
    rng = np.random.default_rng(3)
    for trial in range(100):
        a, b = _pair(rng, 2)
        d = [x - y for x, y in zip(a, b)]
        for level, resamples in ((0.9, 1999), (0.99, 1000), (0.95, 2000)):
            row = sign_flip(d, resamples, trial, level)
            assert (not row["lo"] <= 0 <= row["hi"]) == (row["p"] < 1 - level)


def test_interval_holds_the_mean_difference_and_shrinks_with_data():
    rng = np.random.default_rng(0)
    wide = sign_flip([(rng.random(40) < 0.7).astype(float) - (rng.random(40) < 0.5)])
    narrow = sign_flip([(rng.random(4000) < 0.7).astype(float) - (rng.random(4000) < 0.5)])
    assert narrow["hi"] - narrow["lo"] < (wide["hi"] - wide["lo"]) / 5
    assert narrow["lo"] == pytest.approx(0.2 - 0.028, abs=0.02) and narrow["p"] < 0.01


def _result(method: str, outcomes: dict[str, np.ndarray]) -> dict:
    return {"method": method, "params": {"k": 1}, "plugin_version": "1",
            "tasks": {t: {"accuracy": float(o.mean()), "predictions": o.astype(int).tolist(),
                          "labels": [1] * len(o)} for t, o in outcomes.items()}}


def test_leaderboard_marks_and_compare_give_one_verdict():
    rng = np.random.default_rng(5)
    for _ in range(30):
        a, b = _pair(rng, 2)
        ra, rb = _result("a", {"t1": a[0], "t2": a[1]}), _result("b", {"t1": b[0], "t2": b[1]})
        rows = compare(ra, rb, ["t1", "t2"])
        bd = board([ra, rb], ["t1", "t2"])
        for c, row in enumerate(rows):
            best = int(np.nanargmax(bd.values[:, c]))
            if bd.values[0, c] == bd.values[1, c]:
                continue
            tied = bd.marks[1 - best, c] == TIED
            assert tied == (row["lo"] <= 0 <= row["hi"]) == (row["p"] >= SIGNIFICANCE)
            assert sign_flip_p([a[c] - b[c]] if c < 2 else [x - y for x, y in zip(a, b)]) == row["p"]
