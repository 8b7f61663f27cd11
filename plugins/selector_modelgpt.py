"""ModelGPT (LOVM, Zohar et al. 2023): predict accuracy from text alone.

Per (model, task), seven features computed with the model's text encoder
(LOVM's definitions): text-acc1 and text-f1 (zero-shot classification of the
class captions plus Gaussian noise, sigma 0.1, not renormalised),
intraclass_sim, inter_close, intra_close, superclass_metric, and the
ImageNet score. A linear regression (least squares with intercept, unscaled,
like sklearn's LinearRegression) is fitted on the sample datasets, whose
ground-truth accuracies the harness measures (Sec. 5.2), with targets centred
per dataset (LOVM's ranking target; option ``target=raw`` fits raw
accuracy, and only then are its scores accuracy predictions, as
``scores_are_accuracy`` declares). Its prediction for the target task is
every class's score. On a table benchmark (LOVM) the shipped features are
used instead of computing them. Option ``features`` fits a subset: a
comma list of feature names and LOVM's score groups (``C``: text_f1,
text_acc1; ``G``: the four geometry features; ``INB``: imagenet_score);
the default is all seven, LOVM's fixed full model. Option ``seed`` seeds
the text-acc1/text-f1 noise.

Synonyms/superclasses (LOVM asks GPT) come from WordNet offline: the lemmas
and hypernym lemmas of the class name's first noun sense.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from mllbench.contract import (hookimpl, l2_normalize, MllbenchError, Option, SelectionContext, Selector,
                               TaskInfo)
from mllbench.plugins.selector_inb import imagenet_accuracy

FEATURES = ("text_acc1", "text_f1", "intraclass_sim", "inter_close", "intra_close",
            "superclass_metric", "imagenet_score")
# LOVM's score groups (its modelGPT/constants.py): caption classification, geometry, ImageNet
GROUPS = {"C": ("text_f1", "text_acc1"), "G": ("intraclass_sim", "inter_close", "intra_close", "superclass_metric"),
          "INB": ("imagenet_score",)}


def synonyms(classname: str, max_words: int = 4) -> list[str]:
    """LOVM's synonym/superclass sentences, from WordNet when the name is a noun.

    At most ``max_words`` (the name, then its synonyms, then hypernyms), which
    bounds the text-encoder cost per class.
    """
    return list(_synonyms(classname, max_words))


@lru_cache(maxsize=None)
def _synonyms(classname: str, max_words: int) -> tuple[str, ...]:  # once per class and process
    from mllbench.contract import wordnet

    wn = wordnet()
    senses = wn.senses(classname)
    words = [classname]
    if senses:
        words += [lemma for s in [senses[0], *wn.hypernyms(senses[0], instances=False)] for lemma in wn.lemmas(s)]
    unique = list(dict.fromkeys(w.replace("_", " ") for w in words))[:max_words]
    return tuple(f"a photo of a {w}." for w in unique)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean over classes of 2 TP / (predicted + true); 0 for a class neither predicted nor present."""
    tp = np.bincount(y_true[y_pred == y_true], minlength=n_classes)
    denom = np.bincount(y_pred, minlength=n_classes) + np.bincount(y_true, minlength=n_classes)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def group_means(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of ``values`` rows (or entries) per group id; every group has at least one."""
    onehot = (groups[None, :] == np.arange(n_groups)[:, None]).astype(values.dtype)
    return (onehot @ values) / onehot.sum(1).reshape((-1,) + (1,) * (values.ndim - 1))


def text_features(weights: np.ndarray, captions: list[np.ndarray], syn: list[np.ndarray],
                  rng: np.random.Generator, noise: float = 0.1) -> list[float]:
    """The six text features of LOVM for one model on one task.

    ``weights`` (C, d) normalised class weights; ``captions[c]`` (n_c, d) and
    ``syn[c]`` (s_c, d) normalised embeddings of class c's captions/synonyms.
    Vectorised over classes (one matmul per feature, not a loop over classes).
    """
    n_classes = len(weights)
    x = np.concatenate(captions)
    y = np.repeat(np.arange(n_classes), [len(c) for c in captions])
    pred = np.argmax((x + rng.normal(0, noise, x.shape)) @ weights.T, axis=1)
    class_sim = weights @ weights.T
    np.fill_diagonal(class_sim, 0.0)  # LOVM zeroes the diagonal (so this feature is never below 0)
    mean_to_weights = group_means(x @ weights.T, y, n_classes)  # (C, C): class c's captions vs every weight
    off = mean_to_weights.copy()
    np.fill_diagonal(off, -np.inf)
    s = np.concatenate(syn)
    owner = np.repeat(np.arange(n_classes), [len(v) for v in syn])
    superclass = group_means(np.einsum("md,md->m", s, weights[owner]), owner, n_classes)
    return [float(np.mean(pred == y)), macro_f1(y, pred, n_classes),
            float(class_sim.max(1).mean()) if n_classes > 1 else 0.0,
            float(np.diag(mean_to_weights).mean()),
            float(off.max(1).mean()) if n_classes > 1 else 0.0,
            float(superclass.mean())]


def task_texts(ctx: SelectionContext, task: TaskInfo) -> tuple[list[str], list[int]]:
    """All texts a task's features need, and the sizes of its groups."""
    captions = [ctx.captions(task, c) for c in task.classnames]
    syn = [synonyms(c) for c in task.classnames]
    prompts = [t.format(c) for c in task.classnames for t in task.templates]
    texts = prompts + [t for caps in captions for t in caps] + [t for s in syn for t in s]
    return texts, [len(prompts)] + [len(c) for c in captions] + [len(s) for s in syn]


def features(ctx: SelectionContext, tasks: list[TaskInfo], seed: int) -> np.ndarray:
    """(n_tasks, n_models, 7) features; each model encodes all tasks' texts in one call
    (after ``modelgpt_prepare``, a cache hit)."""
    if ctx.precomputed is not None:
        return np.stack([np.stack([ctx.precomputed(t.name)[f] for f in FEATURES], 1) for t in tasks])
    prepared = [task_texts(ctx, t) for t in tasks]
    out = np.zeros((len(tasks), len(ctx.models), len(FEATURES)))
    for m, (model, inet) in enumerate(zip(ctx.models, imagenet_accuracy(ctx))):
        emb = l2_normalize(ctx.encode_text(model.id, [x for texts, _ in prepared for x in texts]))
        start = 0
        for i, (task, (texts, sizes)) in enumerate(zip(tasks, prepared)):
            parts = np.split(emb[start:start + len(texts)], np.cumsum(sizes)[:-1])
            start += len(texts)
            n = len(task.classnames)
            weights = l2_normalize(parts[0].reshape(n, len(task.templates), -1).mean(1))
            out[i, m] = text_features(weights, parts[1:1 + n], parts[1 + n:], np.random.default_rng(seed)) + [inet]
    return out


def fit_linear(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with intercept; returns [intercept, *coefficients]."""
    design = np.hstack([np.ones((len(x), 1)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef


def feature_columns(spec: str | None) -> list[int]:
    """Column indices of ``FEATURES`` named by a comma list of features and groups (all when empty)."""
    if not spec:
        return list(range(len(FEATURES)))
    names: list[str] = []
    for word in (w.strip() for w in str(spec).split(",") if w.strip()):
        if word not in GROUPS and word not in FEATURES:
            raise MllbenchError(f"unknown ModelGPT feature {word!r}; use {', '.join([*GROUPS, *FEATURES])}")
        names += GROUPS.get(word, (word,))
    return sorted({FEATURES.index(n) for n in names})


def modelgpt_prepare(contexts: list[SelectionContext]) -> None:
    """All tasks' model work in one pass over the hub, each model loaded once (``run_method``
    calls it before selecting task by task): the model encodes the texts of the sample
    datasets and of every target task in one cached call (each text alone, see
    ``registry.store.canonical_compute``), then, still loaded, gives its sample-dataset
    predictions. Afterwards every task's selection runs no model."""
    contexts = [c for c in contexts if c.precomputed is None]
    if not contexts:
        return
    ctx = contexts[0]
    prepared = ctx.memo.setdefault(("modelgpt", "prepared"), set())
    if all(c.task.name in prepared for c in contexts):
        return
    tasks = [*ctx.sample_tasks, *(c.task for c in contexts)]
    texts = list(dict.fromkeys(x for t in tasks for x in task_texts(ctx, t)[0]))
    for model in ctx.models:
        ctx.encode_text(model.id, texts)
        for sample in ctx.sample_tasks:
            ctx.sample_accuracy(model.id, sample.name)
    prepared.update(c.task.name for c in contexts)


def sample_data(ctx: SelectionContext, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample datasets' features (n_samples, n_models, 7) and accuracies (n_samples, n_models).

    They do not depend on the target task: computed once per session (``ctx.memo``).
    """
    key = ("modelgpt", "samples", seed, tuple(s.name for s in ctx.sample_tasks))
    if ctx.precomputed is None and key in ctx.memo:
        return ctx.memo[key]
    modelgpt_prepare([ctx])  # a lone task (``mllbench select``): still each model loaded once
    x = features(ctx, list(ctx.sample_tasks), seed)
    acc = np.array([[ctx.sample_accuracy(m.id, s.name) for m in ctx.models] for s in ctx.sample_tasks])
    if ctx.precomputed is None:  # a table benchmark's samples are the other tasks: nothing to keep
        ctx.memo[key] = (x, acc)
    return x, acc


def training_data(ctx: SelectionContext) -> tuple[np.ndarray, np.ndarray]:
    """Features (n_samples + 1, n_models, 7), the target task last, and the samples' accuracies (n_samples, n_models)."""
    seed = int(ctx.params.get("seed", 0))
    x, acc = sample_data(ctx, seed)
    return np.concatenate([x, features(ctx, [ctx.task], seed)]), acc


def fit_predict(x: np.ndarray, acc: np.ndarray, columns: list[int], centred: bool) -> np.ndarray:
    """Fit on the sample rows of ``x`` (those columns) and predict the target task's (n_models,)."""
    y = acc - acc.mean(1, keepdims=True) if centred else acc
    coef = fit_linear(x[:-1][..., columns].reshape(-1, len(columns)), y.reshape(-1))
    return coef[0] + x[-1][:, columns] @ coef[1:]


class ModelGPT(Selector):
    """LOVM's ModelGPT: a linear fit of accuracy on text-only features. Its options are recorded
    in a result only when given (``record_default=False``), as before they were declared."""

    name = "modelgpt"
    options = (
        Option("features", "str", None, "Features to fit: a comma list of feature names and LOVM's score groups "
               f"({'; '.join(g + ': ' + ', '.join(f) for g, f in GROUPS.items())}); default: all seven.",
               record_default=False),
        Option("target", "choice", "centred", "Fit accuracies centred per dataset (LOVM's ranking target) or raw "
               "(then the scores predict accuracy: L1).", choices=("centred", "raw"), record_default=False),
        Option("seed", "int", 0, "Seed of the caption noise of text-acc1 and text-f1.", record_default=False),
    )
    features, feature_groups = FEATURES, GROUPS  # `experiment subsets` reads them
    reads_sample_accuracy = True  # fits on the hub's accuracies on the sample datasets (their class subsets)

    def select(self, ctx: SelectionContext) -> np.ndarray:
        x, acc = training_data(ctx)
        predicted = fit_predict(x, acc, feature_columns(ctx.params.get("features")),
                                ctx.params.get("target", "centred") == "centred")
        return np.repeat(predicted[:, None], len(ctx.task.classnames), axis=1)

    def prepare(self, contexts: list[SelectionContext]) -> None:
        modelgpt_prepare(contexts)

    def scores_are_accuracy(self, params) -> bool:
        return params.get("target") == "raw"

    def check(self, params, hub_size: int | None = None) -> None:
        """Also the feature names, before any model runs."""
        super().check(params, hub_size)
        feature_columns(params.get("features"))


@hookimpl
def register_selectors(register):
    register(ModelGPT.name, ModelGPT())
