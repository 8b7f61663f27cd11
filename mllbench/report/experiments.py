"""The paper's experiments as tables over a Session (Tables 3-4, Figures 1 and 3).

Each function reads labels and cached predictions through the Session (models
run only for what the registry lacks) and returns a :class:`Table` plus the
arrays its plot needs. MLL's per-class precision p_{m,y} (Eq. 6) is computed
once per task and reused across the sweep: Eq. 7 is then one array call per
alpha, a sub-hub's r_{m,y} is a subset of the full hub's rows (a model's
score does not depend on the other models), and k only changes reuse.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from mllbench.pipeline.cost import images_gflops, model_gflops
from mllbench.pipeline.evaluate import per_class_accuracy
from mllbench.report.leaderboard import Board, reuse_gflops
from mllbench.maths.mll import reuse_metric
from mllbench.contract.options import REUSE_OPTIONS, check_params, check_value
from mllbench.pipeline.session import Session
from mllbench.pipeline.truth import ground_truth
from mllbench.maths.reuse import DEFAULT_LOGIT_SCALE, DEFAULT_WEIGHTING, WEIGHTINGS, top_k_models
from mllbench.maths.stats import RESAMPLES, bootstrap, interval
from mllbench.core.types import MllbenchError

ALPHAS = (0.5, 0.6, 0.7, 0.8, 0.9)
KS = (1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class Table:
    """A titled table: header and rows of str / int / float cells."""

    title: str
    header: list[str]
    rows: list[list]

    def cells(self, digits: int = 4) -> list[list[str]]:
        """Rows as text, floats rounded (what the table renderers print)."""
        return [[f"{c:.{digits}f}" if isinstance(c, float) else str(c) for c in row] for row in self.rows]


@dataclass(frozen=True)
class ReuseOptions:
    """Eqs. 8-9 settings shared by every experiment."""

    logit_scale: float = DEFAULT_LOGIT_SCALE
    weighting: str = DEFAULT_WEIGHTING  # Eq. 9: 1/H, the authors' code (mllbench/reuse.py)


def check_sweep(session: Session, params: dict, reuse: ReuseOptions, alpha: float | None = None,
                alphas: Sequence[float] | None = None, ks: Sequence[int] | None = None) -> None:
    """Every value an experiment will use is in range, as the reuse settings and MLL (whose sweeps
    these are) declare them (``mllbench.contract.options``), before any model runs."""
    hub = len(session.bench.models)
    options = (*REUSE_OPTIONS, *session.bench.host.selector("mll").options)
    check_params({**params, "logit_scale": reuse.logit_scale, "weighting": reuse.weighting, "alpha": alpha}, hub,
                 options)
    for name, values in (("alpha", alphas), ("k", ks)):
        if values is not None and len(values) == 0:
            raise MllbenchError(f"--{name}s needs at least one value")
        for v in values or ():
            check_value(name, v, hub, label=f"--{name}s", options=options)


def class_precision_by_task(session: Session, tasks: Sequence[str], params: dict) -> dict[str, np.ndarray]:
    """p_{m,y} per task: the MLL selector at alpha = 1, where Eq. 7 is the identity."""
    session.ensure([m["id"] for m in session.bench.models], tasks)
    return {t: session.select("mll", t, {**params, "alpha": 1.0}) for t in tasks}


def reuse_accuracy(session: Session, tasks: Sequence[str], scores: dict[str, np.ndarray], k: int,
                   reuse: ReuseOptions) -> list[dict]:
    """Eqs. 8-10 on cached predictions for every task (``Session.reuse`` results)."""
    return [session.reuse(t, scores[t], k, reuse.logit_scale, reuse.weighting) for t in tasks]


def alpha_sweep(session: Session, tasks: Sequence[str], params: dict, reuse: ReuseOptions,
                alphas: Sequence[float] = ALPHAS) -> tuple[Table, np.ndarray]:
    """Table 3: accuracy per task and on average for each alpha, k = 1."""
    check_sweep(session, params, reuse, alphas=alphas)
    p_y = class_precision_by_task(session, tasks, params)
    acc = np.array([[r["accuracy"] for r in reuse_accuracy(
        session, tasks, {t: reuse_metric(p, a) for t, p in p_y.items()}, 1, reuse)] for a in alphas])
    rows = [[a, *map(float, row), float(row.mean())] for a, row in zip(alphas, acc)]
    return Table("Table 3: MLL accuracy by alpha (k = 1)", ["alpha", *tasks, "avg"], rows), acc.mean(1)


def models_run(results: Sequence[dict]) -> int:
    """Forward passes per image summed over tasks: the distinct models reuse runs."""
    return sum(len(r["models_used"]) for r in results)


def k_weightings(reuse: ReuseOptions) -> tuple[str, ...]:
    """The Eq. 9 weightings Table 4 shows side by side: the chosen one, then both readings of
    Eq. 9 (inverse-entropy, the authors' code; entropy, as printed)."""
    return tuple(dict.fromkeys([reuse.weighting, *(w for w in WEIGHTINGS if w != "uniform")]))


def average_interval(results: Sequence[dict], resamples: int = RESAMPLES) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the average accuracy over tasks, resampling each
    task's test images (``mllbench.maths.stats``; seeded, so every run prints the same)."""
    correct = [np.asarray(r["predictions"]) == np.asarray(r["labels"]) for r in results]
    return interval(bootstrap(correct, resamples).mean(1))


def k_sweep(session: Session, tasks: Sequence[str], params: dict, reuse: ReuseOptions, alpha: float,
            ks: Sequence[int] = KS) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray | None]:
    """Table 4: average accuracy (with a 95 % bootstrap interval over test images) for each
    Eq. 9 weighting of :func:`k_weightings` side by side, inference cost relative to k = 1, and
    compute (GFLOPs per image of the models reused, from the hub's metadata), per k.

    Returns the table, the average accuracies (n_weightings, n_ks), the costs (n_ks,) and the
    GFLOPs per image (n_ks,), None when a reused model's cost is unknown (no column then).
    Cost is the number of distinct models reuse runs on each task's images,
    summed over tasks (each is one forward pass per image), relative to k = 1;
    it does not depend on the weighting (the models are chosen before Eq. 9).
    ``benchmarks/perf/reuse_cost.py`` weighs the same sets by measured time.
    """
    check_sweep(session, params, reuse, alpha, ks=ks)
    scores = {t: reuse_metric(p, alpha) for t, p in class_precision_by_task(session, tasks, params).items()}
    weightings = k_weightings(reuse)
    runs = {w: [reuse_accuracy(session, tasks, scores, k, replace(reuse, weighting=w)) for k in ks]
            for w in weightings}
    acc = np.array([[np.mean([r["accuracy"] for r in res]) for res in runs[w]] for w in weightings])
    first = runs[weightings[0]]
    cost = np.array([models_run(res) for res in first], dtype=np.float64)
    cost /= cost[0]
    gflops = model_gflops(session.bench.models)
    compute = [images_gflops([r["models_used"] for r in res], gflops) for res in first]
    known = all(c is not None for c in compute)
    rows = [[k, *[x for i, w in enumerate(weightings) for x in (float(acc[i, j]), *average_interval(runs[w][j]))],
             float(cost[j]), round(models_run(first[j]) / len(tasks), 2), *([float(compute[j])] if known else [])]
            for j, k in enumerate(ks)]
    header = ["k", *[c for w in weightings for c in (f"avg accuracy ({w})", f"95% lo ({w})", f"95% hi ({w})")],
              "cost vs k=1", "models run per task", *(["GFLOPs/img"] if known else [])]
    return (Table(f"Table 4: MLL accuracy by k and Eq. 9 weighting (95% bootstrap intervals over test images), "
                  f"and inference cost (alpha = {alpha})", header, rows), acc, cost,
            np.array(compute, dtype=np.float64) if known else None)


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Which points no other beats: none costs no more and is at least as accurate, one strictly."""
    cost, accuracy = np.asarray(cost, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    no_worse = (cost[None, :] <= cost[:, None]) & (accuracy[None, :] >= accuracy[:, None])
    better = (cost[None, :] < cost[:, None]) | (accuracy[None, :] > accuracy[:, None])
    return ~(no_worse & better).any(1)


def cost_table(b: Board, gflops: Mapping[str, float]) -> tuple[Table, list[str]]:
    """Accuracy against compute for every stored result (a leaderboard row: method x k x params):
    the average accuracy with its 95 % interval, GFLOPs per image of the models reused
    (``leaderboard.reuse_gflops``), and whether it is on the Pareto front. Reads results only.

    Returns the table (cheapest first) and notes on the rows left out (a task or a cost missing).
    """
    rows, notes = [], []
    for i, (label, result) in enumerate(zip(b.labels, b.results)):
        compute = reuse_gflops(result, b.tasks, gflops)
        if compute is None or np.isnan(b.values[i, -1]):
            notes.append(f"{label}: left out ({'a task result' if compute is not None else 'a reused model cost'} "
                         "is missing)")
            continue
        rows.append([label, result["method"], result["params"].get("k", ""), compute, float(b.values[i, -1]),
                     float(b.lo[i, -1]), float(b.hi[i, -1])])
    if not rows:
        raise MllbenchError("no stored result has both every task and a known cost (the hub's metadata gflops "
                            "or flops_b); run `mllbench run --method mll --tasks all` on a hub with costs")
    front = pareto_front(np.array([r[3] for r in rows]), np.array([r[4] for r in rows]))
    rows = sorted(([*r, "yes" if f else ""] for r, f in zip(rows, front)), key=lambda r: (r[3], -r[4]))
    return Table(f"Accuracy against compute ({len(b.tasks)} tasks): GFLOPs per image of the models reused, "
                 "Pareto front marked", ["result", "method", "k", "GFLOPs/img", "avg accuracy", "95% lo", "95% hi",
                                         "Pareto front"], rows), notes


def sub_hub_scores(scores: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Scores of a hub reduced to ``members``: the others can never be chosen."""
    out = np.full_like(scores, -np.inf)
    out[members] = scores[members]
    return out


def hub_growth(session: Session, tasks: Sequence[str], params: dict, reuse: ReuseOptions, alpha: float,
               orders: int = 30, seed: int = 0) -> tuple[Table, np.ndarray]:
    """Figure 3: average accuracy (k = 1) as the hub grows model by model.

    Returns the table (mean, std, min, max per hub size) and the
    (orders, n_models) curves. Reuse with k = 1 depends only on the model
    chosen per class, so identical choices are evaluated once.
    """
    check_sweep(session, params, reuse, alpha)
    scores = {t: reuse_metric(p, alpha) for t, p in class_precision_by_task(session, tasks, params).items()}
    n_models = len(session.bench.models)
    rng = np.random.default_rng(seed)
    seen: dict[tuple[str, bytes], float] = {}
    curves = np.empty((orders, n_models))
    for o in range(orders):
        order = rng.permutation(n_models)
        for size in range(1, n_models + 1):
            accs = []
            for t in tasks:
                sub = sub_hub_scores(scores[t], order[:size])
                key = (t, top_k_models(sub, 1).tobytes())
                if key not in seen:
                    seen[key] = session.reuse(t, sub, 1, reuse.logit_scale, reuse.weighting)["accuracy"]
                accs.append(seen[key])
            curves[o, size - 1] = np.mean(accs)
    rows = [[size, float(c.mean()), float(c.std()), float(c.min()), float(c.max())]
            for size, c in enumerate(curves.T, start=1)]
    return (Table(f"Figure 3: average accuracy by hub size ({orders} random orders, k = 1, alpha = {alpha})",
                  ["hub size", "mean", "std", "min", "max"], rows), curves)


def per_task_accuracy(session: Session, tasks: Sequence[str]) -> tuple[Table, np.ndarray]:
    """Figure 1(a): every hub model's zero-shot accuracy on every task."""
    truth = ground_truth(session, tasks, compute=True)
    ids = [m["id"] for m in session.bench.models]
    rows = [[m, *map(float, acc), float(acc.mean())] for m, acc in zip(ids, truth)]
    return Table("Figure 1(a): zero-shot accuracy per task", ["model", *tasks, "avg"], rows), truth


def per_class_table(session: Session, task: str) -> tuple[Table, np.ndarray]:
    """Figure 1(b): every hub model's zero-shot accuracy on each class of one task."""
    classes = list(session.bench.task_info(task).classnames)
    ids = [m["id"] for m in session.bench.models]
    acc = []
    for m in ids:
        sims, labels = session.predictions(task, m)
        acc.append([np.nan if a is None else a for a in per_class_accuracy(sims.argmax(1), labels, len(classes))])
    acc = np.array(acc)
    rows = [[m, *map(float, row)] for m, row in zip(ids, acc)]
    return Table(f"Figure 1(b): zero-shot accuracy per class of {task}", ["model", *classes], rows), acc


# LOVM's rows: which score groups (the ModelGPT selector's ``feature_groups``) a row's subsets may draw on
SUBSET_ROWS = ("INB", "C", "G", "G+C", "INB+C", "INB+G", "INB+G+C")


def modelgpt_subsets(session: Session, tasks: Sequence[str], params: dict,
                     published: dict[str, tuple] | None = None) -> Table:
    """LOVM's ModelGPT ablation: every feature subset, the best one per score-group row.

    For each of the 127 non-empty subsets of the seven features, ModelGPT is
    fitted per task (centred targets for R5/tau, raw accuracy for L1) and
    scored against the ground truth; LOVM's rule for the lone ImageNet score
    is its baseline itself (INB). A row reports, among the subsets of its
    groups, the one with the best R5 (ties: best tau, on values rounded to 3
    digits as LOVM's script does) and separately the lowest L1. The subset
    is chosen on the test metric, which is LOVM's published protocol and
    optimistic by construction; ``run -m modelgpt`` is the fixed fit.
    """
    from itertools import combinations

    from mllbench.maths.ranking import per_task

    # the selector's own feature names and groups (declared by the plugin, not imported from it)
    selector = session.bench.host.selector("modelgpt")
    features, groups = selector.features, selector.feature_groups
    truth = ground_truth(session, tasks, compute=True)
    inb = np.stack([session.select("inb", t, {}).mean(1) for t in tasks], 1)
    session.prepare("modelgpt", tasks, params)  # each model loaded once for all tasks

    def predicted(subset: tuple[str, ...], target: str) -> np.ndarray:
        """ModelGPT's (n_models, n_tasks) prediction fitted on ``subset`` (column 0: every class's)."""
        return np.stack([session.select("modelgpt", t, {**params, "features": ",".join(subset), "target": target})[:, 0]
                         for t in tasks], 1)
    scored: dict[tuple[str, ...], tuple[float, float, float]] = {}
    for n in range(1, len(features) + 1):
        for subset in combinations(features, n):
            rank, raw = (inb, inb) if set(subset) == set(groups["INB"]) else (predicted(subset, "centred"),
                                                                            predicted(subset, "raw"))
            scored[subset] = tuple(round(float(np.mean(per_task(m, p, truth))), 3)
                                   for m, p in (("r5", rank), ("tau", rank), ("l1", raw)))
    header = ["scores", "R5", "tau", "L1", "best subset (R5, tau)", "best subset (L1)"]
    if published:
        header += ["paper R5", "paper tau", "paper L1"]
    rows = []
    for row in SUBSET_ROWS:
        allowed = {f for g in row.split("+") for f in groups[g]}
        candidates = {s: v for s, v in scored.items() if set(s) <= allowed}
        by_rank = max(candidates, key=lambda s: candidates[s][:2])
        by_l1 = min(candidates, key=lambda s: candidates[s][2])
        rows.append([row, *candidates[by_rank][:2], candidates[by_l1][2], "+".join(by_rank), "+".join(by_l1),
                     *(published.get(row, ()) if published else ())])
    return Table(f"ModelGPT feature subsets (LOVM's protocol: best subset per row, chosen on the test metric) "
                 f"over {len(tasks)} tasks", header, rows)
