"""Eqs. 5-10 on small cases computed by hand (numbers worked out in the comments)."""
import math

import numpy as np
import pytest

from mllbench.maths.mll import class_precision, model_label, node_precision, reuse_metric, transfer_matrix
from mllbench.maths.reuse import ensemble_predict, ensemble_scores, entropy, top_k_models


def test_eq2_label_is_cosine_of_image_and_caption_embeddings():
    image = np.array([[3.0, 4.0]])  # |x| = 5
    captions = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert model_label(image, captions) == pytest.approx(np.array([[0.6, 0.8]]))


def test_transfer_matrix_keeps_top_nodes_per_class_with_their_similarity():
    # node 0 = (1,0); node 1 = (0.6,0.8); node 2 = (0,1); node 3 has no images
    nodes = np.array([[1, 0], [0.6, 0.8], [0, 1], [0.8, 0.6]], dtype=float)
    classes = np.array([[1, 0], [0, 1]], dtype=float)
    selected, z = transfer_matrix(classes, nodes, nodes_per_class=1,
                                  eligible=np.array([True, True, True, False]))
    assert selected.tolist() == [0, 2]
    assert z.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    selected, z = transfer_matrix(classes, nodes, nodes_per_class=2,
                                  eligible=np.array([True, True, True, False]))
    # class 0: node 0 (1.0), node 1 (0.6); class 1: node 2 (1.0), node 1 (0.8)
    assert selected.tolist() == [0, 1, 2]
    np.testing.assert_allclose(z, [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], atol=1e-6)
    _, zn = transfer_matrix(classes, nodes, 2, eligible=np.array([True, True, True, False]), normalize_z=True)
    np.testing.assert_allclose(zn, [[1 / 1.6, 0], [0.6 / 1.6, 0.8 / 1.8], [0, 1 / 1.8]], atol=1e-6)


def test_eq5_precision_counts_argmax_over_selected_nodes_only():
    # images 0,1 represent node 0; images 2,3,4 node 1
    sim = np.array([[0.9, 0.1],   # -> node 0: correct
                    [0.2, 0.8],   # -> node 1: wrong for node 0
                    [0.3, 0.7],   # correct
                    [0.6, 0.4],   # wrong
                    [0.1, 0.9]])  # correct
    p = node_precision(sim, np.array([0, 0, 1, 1, 1]), 2)
    assert p.tolist() == pytest.approx([1 / 2, 2 / 3])


def test_eq5_batched_over_models_equals_per_model():
    rng = np.random.default_rng(0)
    sims = rng.normal(size=(3, 7, 4))
    image_node = np.array([0, 0, 1, 2, 3, 3, 3])
    batched = node_precision(sims, image_node, 4)
    for m in range(3):
        np.testing.assert_allclose(batched[m], node_precision(sims[m], image_node, 4))


def test_eq6_and_eq7_by_hand():
    p_v = np.array([[0.5, 1.0], [1.0, 0.0]])  # 2 models x 2 selected nodes
    z = np.array([[0.8, 0.0, 0.5],
                  [0.0, 0.9, 0.5]])  # 2 nodes x 3 classes
    p_y = class_precision(p_v, z)
    # model 0: [0.4, 0.9, 0.75]; model 1: [0.8, 0.0, 0.5]
    np.testing.assert_allclose(p_y, [[0.4, 0.9, 0.75], [0.8, 0.0, 0.5]])
    r = reuse_metric(p_y, alpha=0.7)
    # model 0 mean = 2.05/3; r = 0.7 p + 0.3 * mean
    np.testing.assert_allclose(r[0], 0.7 * np.array([0.4, 0.9, 0.75]) + 0.3 * 2.05 / 3)
    np.testing.assert_allclose(r[1], 0.7 * np.array([0.8, 0.0, 0.5]) + 0.3 * 1.3 / 3)
    assert reuse_metric(p_y, alpha=1.0) == pytest.approx(p_y)


def _sims_from_probs(*probs):
    """Cosine-like scores whose unit-scale softmax is exactly ``probs``."""
    return np.log(np.array(probs))[:, None, :]  # (M, 1 sample, C)


def test_eq9_entropy_is_the_printed_formula_and_inverse_entropy_the_default():
    # model A outputs [0.9, 0.1], model B [0.2, 0.8]; both reused for both classes.
    sims = _sims_from_probs([0.9, 0.1], [0.2, 0.8])
    chosen = np.array([[0, 0], [1, 1]])
    h_a = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))  # 0.32508
    h_b = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))  # 0.50040
    w_a, w_b = h_a / (h_a + h_b), h_b / (h_a + h_b)     # 0.39381, 0.60619
    p = ensemble_scores(sims, chosen, logit_scale=1.0, weighting="entropy")
    np.testing.assert_allclose(p[0], [w_a * 0.9 + w_b * 0.2, w_a * 0.1 + w_b * 0.8], rtol=1e-9)
    assert np.argmax(p[0]) == 1  # 0.4757 vs 0.5243
    inv = ensemble_scores(sims, chosen, logit_scale=1.0, weighting="inverse-entropy")
    assert np.argmax(inv[0]) == 0  # weights swap: 0.6243 vs 0.3757
    np.testing.assert_allclose(inv[0, 0], w_b * 0.9 + w_a * 0.2, rtol=1e-9)
    # the default is the authors' code (1/H), not the formula as printed
    np.testing.assert_array_equal(ensemble_scores(sims, chosen, logit_scale=1.0), inv)


def test_one_default_weighting_for_cli_experiments_and_api():
    import inspect

    from mllbench.cli.experiments import experiment_k
    from mllbench.cli.runs import run
    from mllbench.report.experiments import ReuseOptions, k_weightings
    from mllbench.pipeline.run import run_method
    from mllbench.maths.reuse import DEFAULT_WEIGHTING, ensemble_predict

    assert DEFAULT_WEIGHTING == "inverse-entropy"
    for fn in (run_method, ensemble_scores, ensemble_predict):
        assert inspect.signature(fn).parameters["weighting"].default == DEFAULT_WEIGHTING
    assert ReuseOptions().weighting == DEFAULT_WEIGHTING
    for command in (run, experiment_k):
        assert next(p for p in command.params if p.name == "weighting").default == DEFAULT_WEIGHTING
    # Table 4 shows both readings of Eq. 9, the chosen weighting first
    assert k_weightings(ReuseOptions()) == ("inverse-entropy", "entropy")
    assert k_weightings(ReuseOptions(weighting="uniform")) == ("uniform", "inverse-entropy", "entropy")


def test_eq8_10_k1_each_class_uses_its_own_model():
    sims = _sims_from_probs([0.7, 0.3], [0.4, 0.6])
    scores = np.array([[0.9, 0.1],   # class 0 -> model 0
                       [0.2, 0.8]])  # class 1 -> model 1
    assert top_k_models(scores, 1).tolist() == [[0, 1]]
    p = ensemble_scores(sims, top_k_models(scores, 1), logit_scale=1.0)
    np.testing.assert_allclose(p, [[0.7, 0.6]])
    assert ensemble_predict(sims, scores, k=1, logit_scale=1.0).tolist() == [0]


def test_logit_scale_multiplies_cosines_before_the_softmax():
    sims = np.array([[[0.30, 0.25]]])
    p1 = ensemble_scores(sims, np.array([[0, 0]]), logit_scale=1.0)[0]
    p100 = ensemble_scores(sims, np.array([[0, 0]]), logit_scale=100.0)[0]
    assert p1[0] == pytest.approx(1 / (1 + math.exp(-0.05)))
    assert p100[0] == pytest.approx(1 / (1 + math.exp(-5.0)))


def test_top_k_ties_go_to_the_first_model_and_k_is_capped():
    scores = np.array([[0.5], [0.5], [0.7]])
    assert top_k_models(scores, 2)[:, 0].tolist() == [2, 0]
    assert top_k_models(scores, 10).shape == (3, 1)


def test_entropy_of_one_hot_is_zero_and_uniform_is_log_c():
    assert entropy(np.array([1.0, 0.0, 0.0])) == 0.0
    assert entropy(np.full(4, 0.25)) == pytest.approx(math.log(4))
