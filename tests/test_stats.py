"""Bootstrap intervals, the paired sign-flip test and rank aggregates against independent computations."""
import itertools

import numpy as np
import pytest

from mllbench.maths.stats import average_ranks, bootstrap, interval, paired, sign_flip_p, win_rates


def test_bootstrap_of_a_3_image_task_matches_exhaustive_enumeration():
    """All 27 equally likely resamples of (0, 1, 1): means 0, ⅓, ⅔, 1 with probabilities 1, 6, 12, 8 / 27."""
    units = np.array([0.0, 1.0, 1.0])
    exact = np.array([np.mean(units[list(idx)]) for idx in itertools.product(range(3), repeat=3)])
    reps = bootstrap([units], resamples=27_000, seed=0)[:, 0]
    for value in (0, 1 / 3, 2 / 3, 1):
        assert np.mean(np.isclose(reps, value)) == pytest.approx(np.mean(np.isclose(exact, value)), abs=0.01)
    assert np.isclose(reps, [[0], [1 / 3], [2 / 3], [1]]).any(0).all()  # no other value ever drawn
    # 2.5 % and 97.5 % quantiles of the exact distribution: 0 (P = 1/27 > 2.5 %) and 1
    assert interval(reps) == pytest.approx((0.0, 1.0))
    assert interval(bootstrap([units], 1000, seed=0)[:, 0]) == pytest.approx((0.0, 1.0))


def test_bootstrap_is_seeded_and_groups_are_independent_of_each_other():
    rng = np.random.default_rng(3)
    a, b = (rng.random(50) < 0.4).astype(float), (rng.random(80) < 0.7).astype(float)
    both = bootstrap([a, b], 1000, seed=0)
    np.testing.assert_array_equal(both, bootstrap([a, b], 1000, seed=0))
    np.testing.assert_array_equal(both[:, 0], bootstrap([a], 1000, seed=0)[:, 0])  # group 0 alone: same draws
    assert not np.array_equal(both, bootstrap([a, b], 1000, seed=1))
    assert np.isnan(bootstrap([a, None], 10)[:, 1]).all() and np.isnan(interval(bootstrap([None], 10)[:, 0])).all()


def test_percentile_intervals_agree_with_scipy():
    """scipy.stats.bootstrap(method='percentile') draws indices; ours draws counts: same distribution."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    tasks = [(rng.random(n) < p).astype(float) for n, p in ((120, 0.3), (200, 0.6), (90, 0.85))]
    reps = bootstrap(tasks, resamples=10_000, seed=0)
    for j, units in enumerate(tasks):
        theirs = stats.bootstrap((units,), np.mean, n_resamples=10_000, method="percentile", random_state=0)
        assert interval(reps[:, j]) == pytest.approx(tuple(theirs.confidence_interval), abs=0.012)
    # the average: every task resampled independently in each replicate (scipy's unpaired samples)
    theirs = stats.bootstrap(tasks, lambda *xs, axis=-1: np.mean([x.mean(axis) for x in xs], 0),
                             n_resamples=10_000, method="percentile", paired=False, random_state=0)
    assert interval(reps.mean(1)) == pytest.approx(tuple(theirs.confidence_interval), abs=0.008)
    # paired: the same images for A and B, so the difference's interval is scipy's paired one
    a, b = tasks[1], (rng.random(200) < 0.5).astype(float)
    ours = paired([a], [b], resamples=10_000, seed=0)[0]
    theirs = stats.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), paired=True,
                             n_resamples=10_000, method="percentile", random_state=0)
    assert (ours["lo"], ours["hi"]) == pytest.approx(tuple(theirs.confidence_interval), abs=0.012)
    assert ours["diff"] == pytest.approx(a.mean() - b.mean())


def test_sign_flip_p_agrees_with_scipy_permutation_test():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(2)
    for p_a in (0.55, 0.7):
        d = (rng.random(80) < p_a).astype(float) - (rng.random(80) < 0.5)
        theirs = stats.permutation_test((d,), lambda x, axis=-1: x.mean(axis), permutation_type="samples",
                                        n_resamples=20_000, random_state=0).pvalue
        assert sign_flip_p([d], 20_000, seed=0) == pytest.approx(theirs, abs=0.015)


def test_paired_test_on_hand_made_predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 300)
    good = np.where(rng.random(300) < 0.9, labels, (labels + 1) % 5)  # ~90 % right
    poor = np.where(rng.random(300) < 0.4, labels, (labels + 2) % 5)  # ~40 % right
    a, b = [(good == labels).astype(float)] * 2, [(poor == labels).astype(float)] * 2
    *per_task, avg = paired(a, b, resamples=1000, seed=0)
    assert avg["diff"] == pytest.approx(np.mean(good == labels) - np.mean(poor == labels))
    assert 0 < avg["lo"] < avg["diff"] < avg["hi"]
    assert avg["p"] == pytest.approx(1 / 1001) and all(r["p"] < 0.01 for r in per_task)  # no flip reaches it
    # A == B: nothing to flip, no difference, p = 1
    for row in paired(a, a, resamples=1000, seed=0):
        assert (row["diff"], row["lo"], row["hi"], row["p"]) == (0.0, 0.0, 0.0, 1.0)
    # one image apart out of 300: indistinguishable
    c = a[0].copy()
    c[np.flatnonzero(c)[0]] = 0
    assert paired([a[0]], [c], 1000, 0)[0]["p"] == 1.0  # |T*| is always 1/300: every flip ties


def test_average_ranks_and_win_rates():
    values = np.array([[0.9, 0.5, np.nan],
                       [0.9, 0.7, 0.2],
                       [0.1, 0.7, 0.3]])
    ranks = average_ranks(values)
    np.testing.assert_allclose(ranks, [[1.5, 3, np.nan], [1.5, 1.5, 2], [3, 1.5, 1]])
    stats = pytest.importorskip("scipy.stats")
    for c in range(3):  # ties share their mean rank, as scipy's rankdata(method="average")
        present = ~np.isnan(values[:, c])
        np.testing.assert_allclose(ranks[present, c], stats.rankdata(-values[present, c], method="average"))
    np.testing.assert_allclose(average_ranks(values, higher_is_better=False)[:, 0], [2.5, 2.5, 1])
    rates = win_rates(values)
    # row 0 vs 1: tie on task 0 (½), loses task 1, task 2 not shared -> 0.25
    assert rates[0, 1] == pytest.approx(0.25) and rates[1, 0] == pytest.approx(0.75)
    assert rates[1, 2] == pytest.approx((1 + 0.5 + 0) / 3) and np.isnan(np.diag(rates)).all()
