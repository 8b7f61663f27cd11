"""LOVM's ranking metrics on a small table computed by hand."""
import numpy as np
import pytest

from mllbench.report.leaderboard import board
from mllbench.maths.ranking import kendall_tau, l1, per_task, r5, regret, top

TRUE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
PRED = np.array([0.1, 0.8, 0.9, 0.5, 0.6, 0.7])  # top 5: models 2, 1, 5, 4, 3


def test_metrics_by_hand():
    assert list(top(PRED)) == [2, 1, 5, 4, 3]
    assert r5(PRED, TRUE) == pytest.approx(4 / 5)  # shared: 1, 2, 3, 4
    # pairs of {1, 2, 3, 4}: (1,2) and (3,4) discordant, the other four concordant
    assert kendall_tau(PRED, TRUE) == pytest.approx((4 - 2) / 6)
    # predicted top 5 minus truth: .2, 0, .6, .1, -.1
    assert l1(PRED, TRUE) == pytest.approx(0.16)
    assert regret(PRED, TRUE) == pytest.approx(0.2)  # picks model 2 (0.7), best is 0.9


def test_tau_is_zero_with_two_or_fewer_shared_models():
    assert kendall_tau(PRED, TRUE, n=2) == 0.0  # top 2: {2, 1} vs {0, 1}


def test_per_task_and_average():
    values = per_task("r5", np.stack([PRED, TRUE], 1), np.stack([TRUE, TRUE], 1))
    assert list(values) == pytest.approx([0.8, 1.0]) and values.mean() == pytest.approx(0.9)
    assert list(per_task("tau", TRUE[:, None], TRUE[:, None])) == [1.0]


def result(method, scores, accuracy_scores=False, hub=("a", "b", "c", "d", "e", "f")):
    return {"method": method, "params": {"k": 1}, "plugin_version": "0.1.0", "created": "1", "hub": list(hub),
            "scores_are_accuracy": accuracy_scores, "tasks": {"t": {"accuracy": 0.5, "model_scores": list(scores)}}}


def test_leaderboard_ranking_metric_and_dashes():
    hub = ["a", "b", "c", "d", "e", "f"]
    results = [result("inb", PRED, accuracy_scores=True), result("mll", PRED),
               result("old", PRED, hub=hub[::-1])]
    for metric, inb, mll in (("r5", 0.8, 0.8), ("l1", 0.16, np.nan)):
        b = board(results, ["t"], metric=metric, truth=TRUE[:, None], hub=hub)
        by = dict(zip(b.labels, b.values))  # task, then the average; NaN is shown as a dash
        np.testing.assert_allclose(by["inb (k=1)"], [inb, inb])
        np.testing.assert_allclose(by["mll (k=1)"][0], mll)
        assert np.isnan(by["old (k=1)"]).all()  # another hub: never compared
