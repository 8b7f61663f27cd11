"""The Python API: open a hub, select its models for any task, reuse them on your images.

    import mllbench
    hub = mllbench.open("embedded")                       # a benchmark's hub and registry
    sel = hub.select(["tabby cat", "golden retriever"])   # classes in no benchmark: MLL, k = 1
    sel.models_for("tabby cat")                           # [(model id, score), ...], best first
    sel.ranking                                           # the hub ranked for the task
    pred = sel.predict("photos/")                         # the chosen models on your images

Selection needs only the registry (the hub's labels) and the text embedder: no
image is read and no image tower runs. ``predict`` runs each reused model once
over the images and ensembles them with Eqs. 8-10 through
``reuse.reuse_ensemble``, the function ``mllbench run`` scores with. The CLI's
``select`` and ``predict`` are this module plus printing (``mllbench/cli/user.py``).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

import numpy as np

from mllbench.maths.reuse import DEFAULT_LOGIT_SCALE, DEFAULT_WEIGHTING, reuse_ensemble, softmax, top_k_models
# task descriptions live in core/tasks.py; imported here too, where the API always had them
from mllbench.core.tasks import (TASK_KEYS, USER_TASK, load_task_file, parse_classes,  # noqa: F401
                                 read_classes_file, task_from_dict)
from mllbench.core.types import MllbenchError, TaskInfo

if TYPE_CHECKING:
    from mllbench.pipeline.imageset import ImageSet
    from mllbench.pipeline.session import Reporter, Session
    from mllbench.pipeline.verify import Verification

DEFAULT_BENCHMARK = "embedded"
TaskLike = Union[TaskInfo, Mapping[str, Any], Sequence[str], str, Path]
ImagesLike = Union[str, Path, Sequence[Union[str, Path]], "ImageSet"]


# --- hubs -------------------------------------------------------------------------------------

def default_registry(benchmark: str) -> Path:
    from mllbench.core.downloads import cache_root

    return cache_root() / "registry" / Path(benchmark).stem


def apply_environment(offline: bool = False, lovm_dir: str | None = None, mll_dir: str | None = None,
                      data_root: str | None = None) -> None:
    """The global options that act through environment variables (read by plugins), set for this process."""
    for name, value in (("MLLBENCH_LOVM_DIR", lovm_dir), ("MLLBENCH_MLL_DIR", mll_dir),
                        ("MLLBENCH_DATA_ROOT", data_root)):
        if value:
            os.environ[name] = str(value)
    if offline:
        for name in ("HF_HUB_OFFLINE", "MLLBENCH_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ[name] = "1"


def make_session(benchmark: str, registry: str | Path | None, options: Mapping[str, Any]) -> "Session":
    """A Session from the CLI's global options (None: the benchmark's default, then the built-in one).

    The one place both the CLI and :func:`open` build it, so they read the same registry the same way.
    """
    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import get_host
    from mllbench.pipeline.session import Session
    from mllbench.registry.store import Store

    bench = load_benchmark(get_host(), str(benchmark))
    root = Path(registry) if registry else default_registry(bench.name)
    opts = {**bench.defaults, **{k: v for k, v in options.items() if v is not None}}
    return Session(bench, Store(root), captioner=opts.get("captioner", "template"),
                   embedder=opts.get("embedder", "minilm"), batch_size=int(opts.get("batch_size", 64)),
                   device=opts.get("device"), precision=opts.get("precision"))


def open_hub(benchmark: str = DEFAULT_BENCHMARK, registry: str | Path | None = None, *,
             embedder: str | None = None, captioner: str | None = None, device: str | None = None,
             batch_size: int | None = None, precision: str | None = None, offline: bool = False,
             lovm_dir: str | None = None, mll_dir: str | None = None, data_root: str | None = None,
             report: "Reporter | None" = None) -> "Hub":
    """A benchmark's hub and registry, with the CLI's global options (``mllbench --help``).

    ``report(description, total) -> update(done, total)`` receives progress (default: none).
    """
    apply_environment(offline, lovm_dir, mll_dir, data_root)
    session = make_session(benchmark, registry, {"embedder": embedder, "captioner": captioner, "device": device,
                                                 "batch_size": batch_size, "precision": precision})
    if report is not None:
        session.report = report
    return Hub(session)


open = open_hub  # ``mllbench.open(...)``; a module attribute only, the builtin is untouched elsewhere


# --- selection and reuse ----------------------------------------------------------------------

@dataclass(eq=False)
class Hub:
    """A benchmark's hub models with their labels (the registry), ready to select for any task."""

    session: "Session"

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m["id"] for m in self.session.bench.models)

    def task(self, task: TaskLike) -> TaskInfo:
        """A TaskInfo from what a user has: a TaskInfo, a dict of its fields, a list of class names,
        a benchmark task's name, or a task file (JSON/YAML)."""
        bench = self.session.bench
        if isinstance(task, TaskInfo):
            return task_from_dict({k: getattr(task, k) for k in TASK_KEYS})
        if isinstance(task, Mapping):
            return task_from_dict(task)
        if isinstance(task, (str, Path)):
            name = str(task)
            if any(e["name"] == name for e in bench.targets + bench.samples):
                return bench.task_info(name)
            if Path(name).is_file():
                return load_task_file(name)
            try:
                bench.task_entry(name)
            except MllbenchError as exc:
                raise MllbenchError(f"{exc}; or give a task file (JSON/YAML) or the class names") from None
        if isinstance(task, Sequence) and not isinstance(task, (str, bytes)):
            return task_from_dict({"classnames": list(task)})
        raise MllbenchError(f"a task is a TaskInfo, a dict, a list of class names, a task name or a file; "
                            f"got {type(task).__name__}")

    def select(self, task: TaskLike, method: str = "mll", k: int = 1, *, logit_scale: float = DEFAULT_LOGIT_SCALE,
               weighting: str = DEFAULT_WEIGHTING, max_gflops: float | None = None, max_params: float | None = None,
               **params: Any) -> "Selection":
        """Score every hub model for every class of ``task`` with a selector (``params`` are its
        declared options, ``mllbench plugins``: MLL's alpha, nodes_per_class, normalize_z);
        nothing runs on images. Values are checked as ``run`` checks them.

        ``max_gflops`` (GFLOPs per image) and ``max_params`` (millions) restrict the hub to the
        models whose definition says they cost no more (``pipeline.cost``): the others score
        -inf, so no class reuses them and the ranking leaves them out (``Selection.left_out``).
        Models are loaded only to label those the registry has no label for.
        """
        from mllbench.pipeline.cost import within_budget
        from mllbench.pipeline.run import check_selection

        session = self.session
        info = self.task(task)
        kept, left_out = within_budget(session.bench.models, max_gflops, max_params)
        if k > len(kept):
            raise MllbenchError(f"k = {k} models per class, but only {len(kept)} hub models are within the cost "
                                "limits; lower --k or raise the limit")
        check_selection(session.bench, method, params, k, logit_scale, weighting)
        session.bench.before_selection(session, self.models, [])  # an image hub's labels, made once
        session.prepare(method, [info], params)
        scores = session.select(method, info, params)
        if left_out:
            scores = np.where(np.isin(np.arange(len(scores)), kept)[:, None], scores, -np.inf)
        return Selection(self, info, method, k, scores, logit_scale, weighting, dict(params), left_out)


@dataclass(eq=False)
class Selection:
    """A selector's scores for one task (``scores``: (n_models, n_classes)) and what k they reuse."""

    hub: Hub = field(repr=False)
    task: TaskInfo
    method: str
    k: int
    scores: np.ndarray
    logit_scale: float = DEFAULT_LOGIT_SCALE
    weighting: str = DEFAULT_WEIGHTING
    params: dict = field(default_factory=dict)
    left_out: str | None = None  # the models a cost limit left out, in words

    @property
    def chosen(self) -> np.ndarray:
        """F^k_y: (k, n_classes) hub indices, best first (ties: hub order)."""
        return top_k_models(self.scores, self.k)

    def models_for(self, classname: str) -> list[tuple[str, float]]:
        """The models reused for a class, best first, with their scores."""
        if classname not in self.task.classnames:
            raise MllbenchError(f"{classname!r} is not a class of {self.task.name!r}; "
                                f"its classes: {', '.join(self.task.classnames)}")
        j = self.task.classnames.index(classname)
        return [(self.hub.models[m], float(self.scores[m, j])) for m in self.chosen[:, j]]

    @property
    def ranking(self) -> list[tuple[str, float]]:
        """Every hub model by its mean score over the classes, best first (``run``'s model_scores);
        models a cost limit left out are not ranked."""
        from mllbench.maths.ranking import top

        mean = self.scores.mean(1)
        return [(self.hub.models[m], float(mean[m])) for m in top(mean, len(mean)) if np.isfinite(mean[m])]

    @property
    def models_used(self) -> list[str]:
        """The models ``predict`` runs: those some class reuses, in hub order."""
        return [self.hub.models[m] for m in np.unique(self.chosen)]

    def explain(self) -> dict | None:
        """Why each class got its models, from the selector's optional ``explain`` (None without one):
        per class the graph nodes matched and the next best, a warning when the class is matched
        worse than any class of the benchmark's own targets, and per chosen model the Eq. 5 counts
        of each matched node with a 95 % Wilson score interval."""
        from mllbench.maths.stats import wilson

        session = self.hub.session
        explain = getattr(session.bench.host.selector(self.method), "explain", None)
        if explain is None:
            return None
        reference = [session.bench.task_info(t["name"]) for t in session.bench.targets]
        out = explain(session.context(self.task, self.params), k=self.k, reference=reference)
        best = out.pop("reference_best_similarities")
        threshold = min(best) if best else None
        out["coverage"] = {"threshold": threshold, "origin": (
            f"the lowest best-node similarity among the {len(best)} class names of {session.bench.name}'s "
            f"{len(reference)} target tasks: a class below it is matched worse than any class the benchmark poses")}
        out["interval"] = "Wilson score, 95%"
        for c, entry in out["classes"].items():
            entry["poorly_covered"] = threshold is not None and entry["best_similarity"] < threshold
            for model in entry["models"]:
                for node in model["nodes"]:
                    node["lo"], node["hi"] = wilson(node["correct"], node["total"])
        return out

    def to_dict(self, explain: bool = False) -> dict:
        """The selection as JSON (``select --json``); with ``explain``, also ``explanation``."""
        out = {"task": {k: (list(v) if isinstance(v, tuple) else v) for k, v in
                        ((k, getattr(self.task, k)) for k in TASK_KEYS)},
               "method": self.method, "k": self.k, "params": self.params,
               "classes": {c: [{"model": m, "score": s} for m, s in self.models_for(c)]
                           for c in self.task.classnames},
               "ranking": [{"model": m, "score": s} for m, s in self.ranking],
               "models_used": self.models_used, **({"left_out": self.left_out} if self.left_out else {})}
        return {**out, "explanation": self.explain()} if explain else out

    def predict(self, images: ImagesLike) -> "Predictions":
        """Run each reused model once over ``images`` (a folder, a list of files, or an
        ``imageset.ImageSet``) and ensemble them (Eqs. 8-10). Each model's similarities are cached
        in the registry, so an interrupted call resumes with the models it had not finished. Files
        that do not decode are skipped and listed. A folder with one sub-folder per class (named
        as the classes) is also scored."""
        from mllbench.pipeline.imageset import ImageSet, folder_labels, list_images, open_image
        from mllbench.pipeline.verify import similarity_source

        session = self.hub.session
        nothing = session.bench.no_images()
        if nothing:
            raise MllbenchError(nothing)
        files = images if isinstance(images, ImageSet) else list_images(images)
        n = len(files.files)
        truth = folder_labels(files, self.task.classnames)
        source = similarity_source(session, self.task, files, truth, "predict")
        try:
            probs, used, _ = reuse_ensemble(lambda m: source(self.hub.models[m]), self.scores, self.k,
                                            self.logit_scale, self.weighting)
        finally:
            session.release_model()
        sims = {m: source(self.hub.models[m]) for m in used}  # held by the source: nothing recomputed
        good = ~np.isnan(probs).any(1)  # a file no model could read is NaN throughout
        skipped = tuple((files.names[i], open_image(files.files[i])[1] or "unreadable") for i in np.flatnonzero(~good))
        if not good.any():
            raise MllbenchError(f"none of the {n} files is a readable image (first: {skipped[0][0]}: {skipped[0][1]})")
        probs = probs[good]
        predicted = probs.argmax(1)
        per_model = np.stack([softmax(self.logit_scale * sims[m][good].astype(np.float64))[np.arange(len(predicted)),
                                                                                           predicted] for m in used])
        labels, unscored = None, None
        if truth is not None:
            outside = [files.names[i] for i in np.flatnonzero(good & (truth < 0))]
            if outside:
                unscored = (f"{len(outside)} image(s) are in no folder named after a class of the task "
                            f"(first: {outside[0]})")
            else:
                labels = truth[good]
        return Predictions(self.task, tuple(files.names[i] for i in np.flatnonzero(good)), probs,
                           tuple(self.hub.models[m] for m in used), per_model, labels, skipped, unscored)


    def verify(self, images: ImagesLike, top: int = 3) -> "Verification":
        """Check the selection on a few labelled images (one sub-folder per class): the ``top``
        models of its ranking, each alone, and the reused ensemble, with accuracy, 95 % Wilson
        intervals, paired sign-flip tests against the top pick and the images estimated to
        separate the two best (``pipeline.verify``). Cached and resumable as ``predict``."""
        from mllbench.pipeline.imageset import ImageSet, list_images
        from mllbench.pipeline.verify import verify

        nothing = self.hub.session.bench.no_images()
        if nothing:
            raise MllbenchError(nothing)
        files = images if isinstance(images, ImageSet) else list_images(images)
        return verify(self.hub.session, self.task, self.scores, files, top, self.k, self.logit_scale, self.weighting)


@dataclass(eq=False)
class Predictions:
    """The ensemble's output on a user's images; arrays aligned with ``files``."""

    task: TaskInfo
    files: tuple[str, ...]  # the classified images (relative to the folder given), skipped ones left out
    probabilities: np.ndarray  # (n, n_classes): p^k_y(x), Eq. 9
    models: tuple[str, ...]  # the reused models
    model_probabilities: np.ndarray  # (n_models, n): each reused model's softmax probability of the prediction
    labels: np.ndarray | None = None  # class indices from the folder tree, when every image is in a class folder
    skipped: tuple[tuple[str, str], ...] = ()  # (file, why) for files that did not decode
    unscored: str | None = None  # why a folder with class folders was not scored

    @property
    def predicted(self) -> np.ndarray:
        """Eq. 10: the class index with the highest ensemble probability."""
        return self.probabilities.argmax(1)

    @property
    def confidence(self) -> np.ndarray:
        """The ensemble's probability of the predicted class."""
        return self.probabilities[np.arange(len(self.files)), self.predicted]

    @property
    def accuracy(self) -> float | None:
        return None if self.labels is None else float(np.mean(self.predicted == self.labels))

    def interval(self, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
        """The accuracy's percentile-bootstrap interval over images (``mllbench.maths.stats``, seeded)."""
        from mllbench.maths.stats import bootstrap, interval

        if self.labels is None:
            raise MllbenchError("these images have no labels (no class folders), so there is no accuracy")
        return interval(bootstrap([(self.predicted == self.labels).astype(float)], resamples, seed)[:, 0], level)

    def records(self) -> list[dict]:
        """One dict per image: file, predicted, confidence, [true], and each reused model's probability."""
        names = self.task.classnames
        out = []
        for i, (f, p, c) in enumerate(zip(self.files, self.predicted, self.confidence)):
            row = {"file": f, "predicted": names[p], "confidence": float(c)}
            if self.labels is not None:
                row["true"] = names[self.labels[i]]
            row.update({m: float(self.model_probabilities[j, i]) for j, m in enumerate(self.models)})
            out.append(row)
        return out

    def write_csv(self, path: str | Path) -> Path:
        """The records as CSV, written atomically (``registry.store.atomic_file``)."""
        from mllbench.registry.store import atomic_file

        records = self.records()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else ["file"], lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in r.items()})
        path = Path(path)
        with atomic_file(path) as tmp:
            tmp.write_text(buffer.getvalue(), encoding="utf-8")
        return path
