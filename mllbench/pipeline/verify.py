"""A user's labelled images: each hub model's cached cosines on them (``predict``) and a check of
a selection on them (``verify``).

``verify`` measures what a selection promises on the user's own labelled images: the top m
models of its ranking (mean score over classes, as ``run`` records ``model_scores``), each alone
(Eq. 1's argmax, as ``run``'s per-model predictions), and the reused ensemble (Eqs. 8-10).

- Accuracy intervals are Wilson score intervals (``maths.stats.wilson``): a few dozen images
  give proportions near 0 or 1, where the normal interval leaves [0, 1] and the bootstrap
  collapses to a point.
- Paired differences to the top pick are ``maths.stats.sign_flip`` on the same images, the test
  ``compare`` prints and the leaderboard's ≈ marks use: interval and p cannot disagree.
- Images to separate the two best: McNemar's normal approximation with the observed rates. Per
  image the difference of the two is +1, -1 or 0; with discordance rate d and mean difference Δ
  its variance is d − Δ², so a two-sided test at 5 % with 80 % power needs
  n = (z₀.₉₇₅ + z₀.₈)² (d − Δ²) / Δ² images: the estimate is n minus the images already used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable, Sequence

import numpy as np

from mllbench.core.types import MllbenchError, TaskInfo
from mllbench.maths.ranking import top
from mllbench.maths.reuse import reuse_ensemble
from mllbench.maths.stats import LEVEL, RESAMPLES, SEED, sign_flip, wilson
from mllbench.pipeline.imageset import ImageSet, cached_similarities, folder_labels, similarities
from mllbench.pipeline.session import Session

POWER = 0.8  # of the separation estimate
INTERVAL = "Wilson score, 95%"


def similarity_source(session: Session, task: TaskInfo, files: ImageSet, truth: np.ndarray | None,
                      verb: str) -> Callable[[str], np.ndarray]:
    """``sims(model_id)``: the model's (n_files, n_classes) cosines on the files, from the registry's
    per-model cache (``imageset.cached_similarities``) or computed and stored there, once per call
    of this source; an interrupted ``predict`` or ``verify`` resumes with the models not finished."""
    n = len(files.files)
    labels = truth if truth is not None else np.full(n, -1)
    held: dict[str, np.ndarray] = {}

    def sims(model_id: str) -> np.ndarray:
        if model_id not in held:
            def compute() -> np.ndarray:
                update = session.report(f"{verb} {model_id} on {n} images", n)
                return similarities(session.model(model_id), task, files, session.batch_size, update)
            held[model_id] = cached_similarities(session.store, model_id, task, files, compute, labels)
        return held[model_id]
    return sims


@dataclass(frozen=True)
class Candidate:
    """One contender on the user's images: a hub model alone, or the reused ensemble."""

    name: str
    models: tuple[str, ...]  # the hub models it runs
    correct: np.ndarray  # (n,) 1.0 where its prediction is the image's class
    lo: float
    hi: float
    versus_top: dict | None  # sign_flip of (this − the top pick): diff, lo, hi, p; None for the top pick

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


@dataclass(frozen=True)
class Verification:
    """``verify``'s measurements; ``candidates[0]`` is the top pick (the selection's best-ranked model)."""

    task: TaskInfo
    files: tuple[str, ...]  # the images measured (unreadable ones left out)
    labels: np.ndarray
    candidates: tuple[Candidate, ...]
    separation: dict  # the two best by accuracy and the images estimated to tell them apart
    skipped: tuple[str, ...] = ()  # files that did not decode

    def to_dict(self) -> dict:
        return {"task": self.task.name, "images": len(self.files), "skipped": list(self.skipped),
                "interval": INTERVAL, "test": f"paired sign-flip, {RESAMPLES} flips, seed {SEED}",
                "candidates": [{"name": c.name, "models": list(c.models), "accuracy": c.accuracy, "lo": c.lo,
                                "hi": c.hi, "versus_top": c.versus_top} for c in self.candidates],
                "separation": self.separation}


def separation(a: Candidate, b: Candidate, n: int) -> dict:
    """How many more labelled images would tell ``a`` from ``b`` (see the module docstring)."""
    diff = a.correct - b.correct
    d, delta = float(np.mean(diff != 0)), float(diff.mean())
    out = {"a": a.name, "b": b.name, "difference": delta, "discordance": d, "power": POWER, "level": LEVEL,
           "method": "McNemar normal approximation from the observed discordance rate and difference"}
    if delta == 0:
        return {**out, "more_images": None, "why": "they are right on exactly the same number of images: "
                "no difference to separate at these rates"}
    z = NormalDist().inv_cdf(0.5 + LEVEL / 2) + NormalDist().inv_cdf(POWER)
    needed = math.ceil(z * z * (d - delta * delta) / (delta * delta))
    return {**out, "needed": needed, "more_images": max(0, needed - n), "why": None}


def verify(session: Session, task: TaskInfo, scores: np.ndarray, files: ImageSet, top_m: int, k: int,
           logit_scale: float, weighting: str) -> Verification:
    """The top ``top_m`` models of the ranking by ``scores`` (n_models, n_classes) and the reused
    ensemble (k, ``logit_scale``, ``weighting``) on labelled ``files``: accuracy, Wilson interval,
    the paired sign-flip test against the top pick, and the separation of the two best."""
    ids = [m["id"] for m in session.bench.models]
    if top_m < 1:
        raise MllbenchError(f"--top must be at least 1 (got {top_m})")
    truth = folder_labels(files, task.classnames)
    if truth is None or (truth < 0).all():
        raise MllbenchError("verify needs labelled images: one sub-folder per class, named as the classes "
                            f"({', '.join(task.classnames[:3])}{', …' if len(task.classnames) > 3 else ''})")
    outside = [files.names[i] for i in np.flatnonzero(truth < 0)]
    if outside:
        raise MllbenchError(f"{len(outside)} image(s) are in no folder named after a class (first: {outside[0]}); "
                            "move them into a class folder or out of the image folder")
    mean = scores.mean(1)
    ranked = [int(m) for m in top(mean, len(ids)) if np.isfinite(mean[m])][:top_m]  # -inf: left out by cost
    sims = similarity_source(session, task, files, truth, "verify")
    try:
        probs, used, _ = reuse_ensemble(lambda m: sims(ids[m]), scores, k, logit_scale, weighting)
        alone = {m: sims(ids[m]) for m in ranked}
    finally:
        session.release_model()
    good = ~np.isnan(probs).any(1)
    for s in alone.values():
        good &= ~np.isnan(s).any(1)
    if not good.any():
        raise MllbenchError(f"none of the {len(good)} files is a readable image")
    labels = truth[good]
    outcomes = [(ids[m], (ids[m],), alone[m][good].argmax(1)) for m in ranked]
    outcomes.append((f"ensemble (k={k})", tuple(ids[m] for m in used), probs[good].argmax(1)))
    candidates = judged([(name, models, (pred == labels).astype(np.float64)) for name, models, pred in outcomes])
    best = sorted(candidates, key=lambda c: -c.accuracy)  # stable: ties keep the ranking's order
    return Verification(task, tuple(files.names[i] for i in np.flatnonzero(good)), labels, tuple(candidates),
                        separation(best[0], best[1], int(good.sum())) if len(best) > 1 else {},
                        tuple(files.names[i] for i in np.flatnonzero(~good)))


def judged(outcomes: Sequence[tuple[str, tuple[str, ...], np.ndarray]]) -> list[Candidate]:
    """Candidates with their Wilson intervals and the sign-flip test against the first (the top pick)."""
    first = outcomes[0][2]
    out = []
    for i, (name, models, correct) in enumerate(outcomes):
        lo, hi = wilson(int(correct.sum()), len(correct))
        out.append(Candidate(name, models, correct, lo, hi, None if i == 0 else sign_flip([correct - first])))
    return out
