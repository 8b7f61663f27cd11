"""Model reuse, Eqs. 8-10: top-k models per class, entropy-weighted ensemble.

Choices (parameters of ``ensemble_predict``, listed in docs/methods.md):
- ``logit_scale``: Eq. 8 prints softmax(sim). With unit scale, the softmax of
  cosine similarities (all within [-1, 1]) is nearly uniform, so we default
  to 100, CLIP's trained logit scale and the authors' code; pass 1.0 for the
  literal formula. The same scale is used for the Eq. 9 entropies.
- ``weighting`` (default ``DEFAULT_WEIGHTING``, "inverse-entropy"): weight
  proportional to 1/H, the inverse entropy of the model's output per sample,
  as the authors' released code computes it. That code produced the paper's
  numbers, and only it reproduces Table 4's trend (k = 3 at least as good as
  k = 1): it trusts the more confident model. "entropy" is the literal reading
  of Eq. 9 as printed (weight proportional to H, i.e. the *less* confident
  model weighs more); "uniform" is a plain mean.
- top-k ties go to the model listed first in the hub (stable sort).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

WEIGHTINGS = ("inverse-entropy", "entropy", "uniform")
DEFAULT_WEIGHTING = "inverse-entropy"  # the authors' code; the one default of CLI, experiments and API
DEFAULT_LOGIT_SCALE = 100.0  # CLIP's trained scale (see above); the one default everywhere


def top_k_models(scores: np.ndarray, k: int) -> np.ndarray:
    """F^k_y for every class: (k, C) model indices, best first."""
    scores = np.asarray(scores, dtype=np.float64)
    k = min(k, scores.shape[0])
    return np.argsort(-scores, axis=0, kind="stable")[:k]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats; 0 log 0 = 0."""
    p = np.asarray(p, dtype=np.float64)
    return -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0.0)).sum(axis=axis)


def ensemble_weights(h: np.ndarray, weighting: str) -> np.ndarray:
    """Eq. 9 numerators for entropies ``h`` (k, N); normalised over axis 0."""
    if weighting == "entropy":
        w = h
    elif weighting == "inverse-entropy":
        w = 1.0 / np.maximum(h, 1e-12)
    elif weighting == "uniform":
        w = np.ones_like(h)
    else:
        raise ValueError(f"unknown weighting {weighting!r}; choose one of {WEIGHTINGS}")
    total = w.sum(axis=0, keepdims=True)
    # all-zero entropies (one-hot outputs) fall back to equal weights
    return np.where(total > 0, w / np.where(total > 0, total, 1), 1.0 / w.shape[0])


def ensemble_scores(sims: np.ndarray, chosen: np.ndarray, logit_scale: float = DEFAULT_LOGIT_SCALE,
                    weighting: str = DEFAULT_WEIGHTING) -> np.ndarray:
    """Eqs. 8-9: p^k_y(x) for all samples and classes.

    ``sims`` is (M, N, C): cosine similarity of each model's image embedding
    of sample x with its text embedding of class y. ``chosen`` is (k, C) from
    :func:`top_k_models`. Returns (N, C).
    """
    used = np.unique(chosen)  # only models some class reuses are evaluated
    probs = softmax(logit_scale * np.asarray(sims[used], dtype=np.float64), axis=-1)
    h = entropy(probs, axis=-1)  # (len(used), N)
    position = np.searchsorted(used, chosen)
    n_classes = chosen.shape[1]
    out = np.empty((probs.shape[1], n_classes))
    for y in range(n_classes):
        models = position[:, y]
        w = ensemble_weights(h[models], weighting)  # (k, N)
        out[:, y] = (w * probs[models, :, y]).sum(axis=0)
    return out


def reuse_ensemble(sims_of: Callable[[int], np.ndarray], scores: np.ndarray, k: int,
                   logit_scale: float = DEFAULT_LOGIT_SCALE,
                   weighting: str = DEFAULT_WEIGHTING) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eqs. 8-9 reading only the reused models' similarities: ``run`` (cached task predictions)
    and ``predict`` (a user's images) both call this, so they ensemble identically.

    ``sims_of(m)`` gives hub model ``m``'s (N, C) cosines; it is called once per reused
    model, in hub order. Returns (p^k_y(x) (N, C), the reused model indices, F^k (k, C)).
    """
    chosen = top_k_models(scores, k)
    used = np.unique(chosen)
    stacked = np.stack([sims_of(int(m)) for m in used])
    return ensemble_scores(stacked, np.searchsorted(used, chosen), logit_scale, weighting), used, chosen


def ensemble_predict(sims: np.ndarray, scores: np.ndarray, k: int, logit_scale: float = DEFAULT_LOGIT_SCALE,
                     weighting: str = DEFAULT_WEIGHTING) -> np.ndarray:
    """Eq. 10: the class with the highest ensemble confidence, per sample."""
    chosen = top_k_models(scores, k)
    return np.argmax(ensemble_scores(sims, chosen, logit_scale, weighting), axis=1)
