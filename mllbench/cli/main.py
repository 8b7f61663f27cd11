"""The ``mllbench`` command line (click + rich)."""
from __future__ import annotations

import json
import os
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from mllbench.api import DEFAULT_BENCHMARK, apply_environment, default_registry  # noqa: F401 - re-exported
from mllbench.maths.ranking import METRICS
from mllbench.maths.reuse import DEFAULT_WEIGHTING, WEIGHTINGS
from mllbench.core.types import MllbenchError


class State:
    """Lazily built host, benchmark and session (nothing loads for --help)."""

    def __init__(self, benchmark: str, registry: str | None, quiet: bool, options: dict):
        self.benchmark_name, self.registry, self.quiet, self.options = benchmark, registry, quiet, options
        self._session = None

    @property
    def host(self):
        from mllbench.host.plugins import get_host

        return get_host()

    @property
    def bench(self):
        return self.session.bench

    @property
    def session(self):
        if self._session is None:
            from mllbench.api import make_session  # the Python API builds its Session the same way

            self._session = make_session(self.benchmark_name, self.registry, self.options)
        return self._session

    @contextmanager
    def progress(self) -> Iterator[None]:
        """One rich progress display for the command (``progress.rich_reporter``)."""
        if self.quiet:
            yield
            return
        from mllbench.cli.progress import rich_reporter

        with rich_reporter(console(err=True)) as reporter:
            self.session.report = reporter
            yield

    def use_executor(self, executor: str, **options) -> None:
        """Run models with the named executor (``mllbench/executors.py``); ``ray_x`` options are Ray's ``x``."""
        from mllbench.pipeline.executors import make_executor

        self.session.executor = make_executor(executor, **{k.removeprefix("ray_"): v for k, v in options.items()})


def console(err: bool = False):
    """A rich console; piped output gets a wide page so tables are not folded."""
    import sys

    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    return Console(stderr=err, width=None if stream.isatty() else 200)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--benchmark", "-b", default=lambda: os.environ.get("MLLBENCH_BENCHMARK", DEFAULT_BENCHMARK),
              show_default="embedded", help="Benchmark name (see `mllbench benchmarks`) or a JSON definition.")
@click.option("--registry", envvar="MLLBENCH_REGISTRY", default=None,
              help="Registry directory (labels, predictions, results). Default: ~/.cache/mllbench/registry/<benchmark>.")
@click.option("--embedder", default=None, help="Text embedder for class/node captions: minilm, hashing, "
              "openai[:MODEL] (default text-embedding-3-large; OPENAI_API_KEY, OPENAI_BASE_URL), ...")
@click.option("--captioner", default=None, help="Caption generator for task classes: template, "
              "gpt[:MODEL] (default gpt-4, the paper's; OPENAI_API_KEY, OPENAI_BASE_URL), ...")
@click.option("--device", default=None, help="Torch device for models (default: cuda if available, else cpu).")
@click.option("--batch-size", type=int, default=None, help="Images per forward pass.")
@click.option("--precision", type=click.Choice(["fp32", "amp", "fp16"]), default=None,
              help="Model arithmetic: fp32 (default), amp (autocast mixed precision), fp16 (half weights, GPU).")
@click.option("--offline", is_flag=True, help="Never download: sets HF_HUB_OFFLINE=1 and MLLBENCH_OFFLINE=1 "
              "(GPT captions and OpenAI embeddings from the caches only).")
@click.option("--lovm-dir", type=click.Path(file_okay=False), default=None,
              help="LOVM's LOVM/ folder, for `--benchmark lovm` (or set MLLBENCH_LOVM_DIR). "
              "Default: fetched once from LOVM's repository at a pinned commit.")
@click.option("--mll-dir", type=click.Path(file_okay=False), default=None,
              help="The MLL authors' MLL/ folder, for `--captioner mll-official` (or set MLLBENCH_MLL_DIR). "
              "Default: fetched once from their repository at a pinned commit.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Where public datasets are read from and downloaded to (or set MLLBENCH_DATA_ROOT). "
              "Default: ~/.cache/mllbench/data.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.version_option(package_name="mllbench")
@click.pass_context
def cli(ctx, benchmark, registry, embedder, captioner, device, batch_size, precision, offline, lovm_dir, mll_dir, data_root,
        quiet):
    """Select and reuse pre-trained vision-language models (Model Label Learning).

    Typical use: `mllbench run --method mll --tasks all`, then
    `mllbench leaderboard`. Models run once; labels and predictions are
    cached in the registry, so scoring another selector takes seconds.
    """
    apply_environment(offline, lovm_dir, mll_dir, data_root)
    ctx.obj = State(benchmark, registry, quiet, {"embedder": embedder, "captioner": captioner,
                                                  "device": device, "batch_size": batch_size,
                                                  "precision": precision})


def benchmark_here(f):
    """``--benchmark``/``--registry`` after the command too (``mllbench run --benchmark lovm``), as users type them."""
    def setter(attribute: str):
        def choose(ctx, param, value):
            if value is not None:
                setattr(ctx.find_object(State), attribute, value)
        return choose

    f = click.option("--registry", "registry_here", default=None, expose_value=False, callback=setter("registry"),
                     help="Registry directory (same as the global --registry).")(f)
    return click.option("--benchmark", "-b", "benchmark_here", default=None, expose_value=False,
                        callback=setter("benchmark_name"),
                        help="Benchmark name or JSON definition (same as the global --benchmark).")(f)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def plugins(state: State, as_json: bool):
    """List plugins (built-in and installed), their hooks and what they register."""
    records = state.host.plugins
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in records], indent=1))
        return
    from rich.table import Table

    t = Table(title="mllbench plugins")
    for col in ("name", "distribution", "version", "registers", "status"):
        t.add_column(col)
    for r in records:
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in r.registered.items())
        t.add_row(r.name, r.distribution, r.version, registers, f"[red]{r.error}[/red]" if r.error else "ok")
    console().print(t)


@cli.command()
@click.pass_obj
def benchmarks(state: State):
    """List registered benchmark definitions."""
    for name, path in sorted(state.host.registries["benchmark"].items()):
        click.echo(f"{name}\t{path}")


@cli.command()
@benchmark_here
@click.pass_obj
def models(state: State):
    """Describe the hub: architecture, training data, params, ImageNet accuracy."""
    from rich.table import Table

    bench = state.bench
    keys = list(dict.fromkeys(k for m in bench.models for k in m.get("metadata", {})))  # the definition's order
    t = Table(title=f"hub of benchmark {bench.name!r} ({len(bench.models)} models)")
    for col in ("id", "provider", *keys):
        t.add_column(col, overflow="fold")
    for m in bench.models:
        t.add_row(m["id"], m.get("provider", "open_clip"), *[str(m.get("metadata", {}).get(k, "")) for k in keys])
    console().print(t)


@cli.command()
@benchmark_here
@click.pass_obj
def tasks(state: State):
    """Describe target tasks and sample datasets: domain, task type, classes, source."""
    from rich.table import Table

    bench = state.bench
    entries = [("target", e) for e in bench.targets] + [("sample", e) for e in bench.samples]
    # optional entry keys, shown when a definition has them: dataset names, test images, download size
    def present(*columns: tuple[str, str]) -> list[tuple[str, str]]:
        return [(col, key) for col, key in columns if any(key in e for _, e in entries)]

    lead, trail = present(("dataset", "dataset")), present(("test images", "n_test"), ("GB", "size_gb"))
    t = Table(title=f"datasets of benchmark {bench.name!r}")
    for col in ("role", "name", *(c for c, _ in lead), "domain", "task type", "classes", *(c for c, _ in trail),
                "source / licence"):
        t.add_column(col, overflow="fold")
    for role, e in entries:
        info = bench.task_info(e["name"])
        names = info.classnames
        classes = f"{len(names)}: " + ", ".join(names[:6]) + (" …" if len(names) > 6 else "")
        where = e.get("repo") or e.get("root") or ""
        t.add_row(role, info.name, *(str(e.get(k, "")) for _, k in lead), info.domain, info.task_type, classes,
                  *(str(e.get(k, "")) for _, k in trail),
                  "; ".join(x for x in (f"{e.get('source')} {where}".strip(), e.get("licence", "")) if x))
    console().print(t)


def with_options(options: list):
    """A decorator applying click options in the order listed."""
    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f
    return apply


# where models run, for the commands that run them (label, run): mllbench/executors.py
executor_options = with_options([
    click.option("--executor", default="local", show_default=True,
                 help="Where models run: local (this process, one model at a time) or ray (a Ray cluster, "
                 "`pip install 'mllbench[ray]'`; this process stays the registry's only writer)."),
    click.option("--ray-address", default=None, help="Ray cluster: 'auto' joins the one `ray start --head` "
                 "started here, ray://HOST:10001 a remote head. Default: RAY_ADDRESS, else a new local Ray."),
    click.option("--ray-workers", type=int, default=None, help="Model workers (Ray actors; each holds one model "
                 "and takes many shards of it). Default: fill the cluster (GPUs / --gpus-per-model, else CPUs)."),
    click.option("--gpus-per-model", type=float, default=None, help="GPUs per model worker (0.5: two share a "
                 "GPU). Default: 1 on a cluster with GPUs, else 0."),
    click.option("--cpu-workers", type=int, default=None, help="CPUs set aside for Ray tasks that decode the "
                 "images of shards for the model workers. Default: 0 (each model worker decodes its own)."),
    click.option("--shard-batches", type=int, default=None, help="Batches of --batch-size images per shard, the "
                 "unit of scheduling, retry and commit. Default: 4."),
    click.option("--worker-threads", "ray_threads", type=int, default=None, help="torch CPU threads per model "
                 "worker. Default without GPUs: this process's count, so results equal the local executor's bit for "
                 "bit (a small batch's last bits depend on it); 1 is faster on a CPU cluster. With GPUs: Ray's."),
])


@cli.command()
@benchmark_here
@click.option("--models", "model_spec", default="all", show_default=True, help="'all' or comma-separated model ids.")
@executor_options
@click.pass_obj
def label(state: State, model_spec: str, **executor):
    """Label hub models on the semantic graph (resumable; only what is missing)."""
    state.use_executor(**executor)
    session = state.session
    ids = [m["id"] for m in session.bench.models] if model_spec == "all" else model_spec.split(",")
    for i in ids:
        session.bench.model_entry(i)
    with state.progress():
        session.ensure(ids, [])
    graph = session.graph()
    click.echo(f"labels current for {len(ids)} models on {len(graph.wnids)} nodes / "
               f"{len(graph.image_refs)} images (graph {graph.hash}) in {session.store.root}")


TABLE_FORMATS = click.Choice(["rich", "markdown", "csv", "latex"])
METHOD_OPTIONS = [
    click.option("--method", "-m", default="mll", show_default=True, help="Selector (see `mllbench plugins`)."),
    click.option("--k", "k", type=int, default=1, show_default=True, help="Models reused per class (Eqs. 8-10)."),
]
ALPHA_OPTION = click.option("--alpha", type=float, default=0.7, show_default=True,
                            help="Eq. 7 balance of class vs overall precision.")
MLL_OPTIONS = [
    click.option("--nodes-per-class", type=int, default=5, show_default=True, help="Graph nodes matched to each class (Z)."),
    click.option("--normalize-z/--raw-z", default=False, show_default=True, help="Normalise Z's columns to sum to 1."),
]
REUSE_OPTIONS = [
    click.option("--logit-scale", type=float, default=100.0, show_default=True, help="Softmax scale in Eqs. 8-9 (1 = literal)."),
    click.option("--weighting", type=click.Choice(list(WEIGHTINGS)), default=DEFAULT_WEIGHTING, show_default=True,
                 help="Eq. 9 ensemble weights: inverse-entropy (1/H, the authors' code, which made the paper's "
                      "numbers), entropy (H, Eq. 9 as printed), uniform."),
]


selection_options = with_options([*METHOD_OPTIONS, ALPHA_OPTION, *MLL_OPTIONS, *REUSE_OPTIONS])


def selector_params(alpha: float, nodes_per_class: int, normalize_z: bool) -> dict:
    return {"alpha": alpha, "nodes_per_class": nodes_per_class, "normalize_z": normalize_z}


def method_params(method: str, alpha: float, nodes_per_class: int, normalize_z: bool, extra: dict) -> dict:
    """A selector's parameters from the options: MLL's own options for mll, then ``-p KEY=VALUE``."""
    return {**(selector_params(alpha, nodes_per_class, normalize_z) if method == "mll" else {}), **extra}


def check_options(state: State, **values) -> None:
    """--k, --alpha, --nodes-per-class, --logit-scale in range (``mllbench/params.py``), before anything runs."""
    from mllbench.contract.options import check_params

    check_params(values, len(state.bench.models))


@cli.command()
@benchmark_here
@click.option("--tasks", "task_spec", default="all", show_default=True, help="'all' or comma-separated target tasks.")
@selection_options
@click.option("--param", "-p", "extra", multiple=True, callback=lambda ctx, param, value: key_values(value),
              help="Selector parameter KEY=VALUE (repeatable), e.g. -p target=raw for ModelGPT's accuracy fit.")
@click.option("--dry-run", is_flag=True, help="Only list, per model and dataset, whether it is cached or in the "
              "registry and what must be fetched (GB); loads and downloads nothing.")
@executor_options
@click.pass_obj
def run(state: State, task_spec, method, k, alpha, nodes_per_class, normalize_z, logit_scale, weighting, extra,
        dry_run, **executor):
    """Label what is missing, select, reuse, evaluate and store the result."""
    from mllbench.pipeline.run import run_method

    check_options(state, k=k, alpha=alpha, nodes_per_class=nodes_per_class, logit_scale=logit_scale)
    state.use_executor(**executor)
    session = state.session
    tasks_ = session.bench.resolve_tasks(task_spec)
    session.bench.host.get("selector", method)
    if dry_run:
        from mllbench.pipeline.dryrun import report

        click.echo(report(session.bench, session.store, tasks_, session.captioner, session.embedder))
        return
    params = method_params(method, alpha, nodes_per_class, normalize_z, extra)
    with state.progress():
        result, path = run_method(session, method, tasks_, params, k, logit_scale, weighting)
    from rich.table import Table

    t = Table(title=f"{method} (k={result['params']['k']}) on {session.bench.name}")
    t.add_column("task")
    t.add_column("accuracy", justify="right")
    t.add_column("models reused", overflow="fold")
    for name, r in result["tasks"].items():
        t.add_row(name, f"{r['accuracy']:.4f}", ", ".join(r["models_used"]))
    t.add_row("[b]average[/b]", f"[b]{result['average']:.4f}[/b]", "")
    console().print(t)
    click.echo(f"result written to {path}")


def stored_results(state: State, required: bool = True) -> list[dict]:
    """The benchmark's result files, oldest first; an error naming the fix when there are none
    (unless not ``required``: a report says so on its page)."""
    from mllbench.report.leaderboard import load_results

    session, bench = state.session, state.session.bench
    results = [r for r in load_results(session.store.results_dir(bench.name)) if r.get("benchmark") == bench.name]
    if not results and required:
        raise MllbenchError(f"no results for benchmark {bench.name!r} in {session.store.root}; "
                            "run `mllbench run --method mll --tasks all` first")
    return results


def label_defaults(state: State, methods: set[str]) -> dict[str, dict]:
    """Per method, the parameter values a row label leaves out: the `run` command's option
    defaults, the session's captioner/embedder (with the benchmark's defaults), and what a
    selector declares as an attribute ``selector.defaults = {...}``."""
    from dataclasses import fields

    from mllbench.pipeline.session import Session

    base = {p.name: p.default for p in run.params if p.default is not None and not callable(p.default)}
    base.update({f.name: f.default for f in fields(Session) if f.name in ("captioner", "embedder")})
    base.update(state.bench.defaults)
    selectors = state.host.registries.get("selector", {})
    return {m: {**base, **getattr(selectors.get(m), "defaults", {})} for m in methods}


stats_options = with_options([
    click.option("--resamples", type=click.IntRange(min=1000), default=1000, show_default=True,
                 help="Bootstrap resamples (and sign flips) for intervals and tests."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the resampling."),
    click.option("--params", "every", is_flag=True, help="Show every parameter in row labels, not only "
                 "those that differ from the defaults."),
])


@cli.command()
@benchmark_here
@click.option("--format", "fmt", type=TABLE_FORMATS, default="rich", show_default=True)
@click.option("--per-model", is_flag=True, help="Also show every hub model's accuracy per task (ground truth).")
@click.option("--no-oracle", is_flag=True, help="Skip the oracle row (needs cached predictions).")
@click.option("--metric", type=click.Choice(["accuracy", *METRICS]), default="accuracy",
              show_default=True, help="Accuracy after reuse, or a LOVM ranking metric of each selector's "
              "model ranking against the ground truth (l1: only selectors predicting accuracy).")
@click.option("--truth", type=click.Choice(["measured", "openclip"]), default="measured", show_default=True,
              help="Ground truth for ranking metrics: accuracies measured here, or open_clip's published table "
              "(another protocol: prompt ensembles; tasks it lacks are left out). "
              "Its CSV: MLLBENCH_OPENCLIP_TABLE, else fetched once at a pinned commit.")
@click.option("--aggregate", type=click.Choice(["rank", "winrate"]), default=None,
              help="Also: each row's mean rank over tasks (ties share their mean rank), or the pairwise "
              "win-rate table (fraction of tasks where the row beats the column).")
@stats_options
@click.pass_obj
def leaderboard(state: State, fmt: str, per_model: bool, no_oracle: bool, metric: str, truth: str,
                aggregate: str | None, resamples: int, seed: int, every: bool):
    """One row per configuration x tasks: accuracy (or a ranking metric) with 95% bootstrap intervals.

    ★ marks each column's best row, ≈ rows not significantly different from it
    (paired sign-flip test at 0.05); `mllbench compare A B` shows the test.
    """
    from mllbench.report.leaderboard import board
    from mllbench.pipeline.truth import ground_truth
    from mllbench.report.reference import REFERENCES

    session = state.session
    bench = session.bench
    tasks_ = [t["name"] for t in bench.targets]
    results = stored_results(state)
    source = "measured here" if truth == "measured" else f"{truth}'s published table, another protocol"
    if truth != "measured":
        if metric == "accuracy":
            raise MllbenchError(f"--truth {truth} scores model rankings: add --metric r5 (or tau, l1, regret)")
        gt, tasks_ = REFERENCES[truth](bench.models, bench.targets)
        oracle = None
    elif not no_oracle or per_model or metric != "accuracy":
        with state.progress():
            gt = ground_truth(session, tasks_)
        oracle = None if no_oracle or metric != "accuracy" else dict(zip(tasks_, gt.max(0)))
    else:
        gt, oracle = None, None
    b = board(results, tasks_, oracle, metric=metric, truth=gt, hub=[m["id"] for m in bench.models],
              defaults=label_defaults(state, {r["method"] for r in results}), every=every,
              resamples=resamples, seed=seed)
    title = ("accuracy after reuse" if metric == "accuracy"
             else f"{metric} of the model ranking vs ground truth {source}")
    header, rows = b.csv() if fmt == "csv" else b.display(sep="\n" if fmt == "rich" else " ")
    sections = [(f"leaderboard: {bench.name} ({title})", header, rows, b.notes())]
    if aggregate:
        about = {"rank": "Rank per task (1 = best; ties share their mean rank) and the mean over tasks.",
                 "winrate": "Win rate: the fraction of the tasks both have where the row beats the column "
                            "(a tie counts ½)."}[aggregate]
        sections.append((f"{aggregate}: {bench.name}", *(b.ranks() if aggregate == "rank" else b.win_rates()),
                         [about]))
    if per_model and gt is not None:
        from mllbench.report.leaderboard import _cells

        sections.append((f"ground truth ({source}): every hub model on every task", ["model", *tasks_, "avg"],
                         [[m["id"], *_cells(list(gt[i]), 4)] for i, m in enumerate(bench.models)], []))
    for title, head, body, notes in sections:
        print_table(title, head, body, fmt, notes)


@cli.command()
@benchmark_here
@click.argument("a")
@click.argument("b")
@click.option("--format", "fmt", type=TABLE_FORMATS, default="rich", show_default=True)
@stats_options
@click.pass_obj
def compare(state: State, a: str, b: str, fmt: str, resamples: int, seed: int, every: bool):
    """A − B per task and on average, paired on the same test images: 95% bootstrap interval and p.

    A and B are leaderboard row labels, or method names with one configuration.
    p is a two-sided paired sign-flip (permutation) test: each resample swaps A's
    and B's outcome on every image with probability ½.
    """
    from mllbench.report.leaderboard import board, compare as compare_rows, find_row

    results = stored_results(state)
    tasks_ = [t["name"] for t in state.bench.targets]
    rows_of = board(results, tasks_, defaults=label_defaults(state, {r["method"] for r in results}),
                    every=every, resamples=resamples, seed=seed)
    i, j = find_row(rows_of, a), find_row(rows_of, b)
    names = (rows_of.labels[i], rows_of.labels[j])
    rows = compare_rows(rows_of.results[i], rows_of.results[j], tasks_, names, resamples, seed)
    if fmt == "csv":
        head = ["task", "a", "b", "diff", "lo", "hi", "p", "resamples", "seed"]
        body = [[r["task"], *(f"{r[k]:.4f}" for k in ("a", "b", "diff", "lo", "hi", "p")), str(resamples), str(seed)]
                for r in rows]
    else:
        head = ["task", f"A: {names[0]}", f"B: {names[1]}", "A − B", "95% interval", "p"]
        body = [[r["task"], f"{r['a']:.4f}", f"{r['b']:.4f}", f"{r['diff']:+.4f}",
                 f"[{r['lo']:+.4f}, {r['hi']:+.4f}]", f"{r['p']:.4f}"] for r in rows]
    print_table(f"compare on {state.bench.name}: A = {names[0]}, B = {names[1]}", head, body, fmt,
                [f"Paired on the same test images: percentile bootstrap of A − B ({resamples} resamples of each "
                 f"task's images, seed {seed}); p: two-sided paired sign-flip test ({resamples} flips)."])


@cli.command()
@benchmark_here
@click.option("--out", required=True, type=click.Path(), help="Folder to write (index.html and its assets); "
              "created, or replaced if an earlier report wrote it.")
@click.option("--experiments", "experiments_dir", type=click.Path(), default=None,
              help="Folder of `mllbench experiment` outputs (PNG plots, CSV tables) to include. "
              "Default: where the experiments write, ./mllbench-out/<benchmark>/, if it exists.")
@stats_options
@click.pass_obj
def report(state: State, out: str, experiments_dir: str | None, resamples: int, seed: int, every: bool):
    """A static HTML site of the leaderboard that opens from file:// (no server, no network).

    The leaderboard's table (sortable) with its intervals and marks, a bar chart
    with error bars per task, the ground truth as a models x tasks heatmap, the
    experiments' plots, and each result's parameters and provenance. Runs no model:
    the ground truth is shown when the registry holds every model's predictions.
    """
    from mllbench.report.leaderboard import board
    from mllbench.report.html import Page, cached_truth, experiment_files, render, write_site

    session = state.session
    bench = session.bench
    if experiments_dir is not None and not Path(experiments_dir).is_dir():
        raise MllbenchError(f"--experiments {experiments_dir} is not a folder; name the --out folder of "
                            "`mllbench experiment ...`")
    folder = Path(experiments_dir) if experiments_dir else experiments_folder(state)
    tasks_ = [t["name"] for t in bench.targets]
    results = stored_results(state, required=False)
    truth, note = cached_truth(session, tasks_)
    oracle = None if truth is None else dict(zip(tasks_, truth.max(0)))
    b = board(results, tasks_, oracle, defaults=label_defaults(state, {r["method"] for r in results}),
              every=every, resamples=resamples, seed=seed) if results else None
    page = Page(bench.name, bench.description, session.store.root, [m["id"] for m in bench.models], tasks_, b,
                truth, note, folder)
    images = [p for p in experiment_files(folder) if p.suffix == ".png"]
    click.echo(f"report written to {write_site(Path(out), render(page), images)}")


def print_table(title: str, head: list[str], body: list[list[str]], fmt: str, notes: list[str] = ()) -> None:
    """A table with rich on screen, or as csv/markdown/latex text; ``notes`` below it (not in csv)."""
    from mllbench.report.leaderboard import render

    text = render(head, body, fmt)
    if text is None:
        from rich.markup import escape
        from rich.table import Table

        t = Table(title=escape(title), caption=escape("\n".join(notes)) or None, caption_justify="left")
        for col in head:
            left = col in ("method", "model", "version", "task")
            t.add_column(escape(col), justify="left" if left else "right", no_wrap=left)
        for row in body:
            t.add_row(*map(escape, row))
        console().print(t)
    else:
        click.echo(text)
        if fmt != "csv" and notes:
            click.echo("\n".join(notes) + "\n")


def key_values(pairs: tuple[str, ...]) -> dict:
    """'-p a=1 -p b=x' as {'a': 1, 'b': 'x'}: JSON values where they parse, else strings."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def number_list(kind: type):
    """A click callback parsing '0.5,0.6' into a tuple of ``kind``."""
    def parse(ctx, param, value: str | None) -> tuple | None:
        if value is None:
            return None
        try:
            return tuple(kind(v) for v in value.split(",") if v.strip())
        except ValueError as exc:
            raise click.BadParameter(f"expected comma-separated {kind.__name__} values, got {value!r}") from exc
    return parse


output_options = with_options([
    click.option("--tasks", "task_spec", default="all", show_default=True, help="'all' or comma-separated target tasks."),
    click.option("--format", "fmt", type=TABLE_FORMATS, default="rich", show_default=True, help="How the table prints."),
    click.option("--out", type=click.Path(file_okay=False), default=None,
                 help="Folder for the CSV tables and the PNG plot. Default: ./mllbench-out/<benchmark>/."),
])
experiment_options = with_options([*MLL_OPTIONS, *REUSE_OPTIONS])


@cli.group()
def experiment():
    """The paper's experiments: a table (screen + CSV) and a PNG plot each.

    Models run only for labels or predictions the registry lacks, so a
    rerun, or another experiment on the same benchmark, takes seconds.
    """


def experiments_folder(state: State) -> Path:
    """Where the experiments write by default (and `mllbench report` looks for them)."""
    return Path("mllbench-out") / state.bench.name


def write_report(state: State, out: str | None, fmt: str, tables: dict, plot=None) -> None:
    """Print each table, write it as ``<out>/<name>.csv``, draw ``plot(folder)`` if given."""
    from mllbench.report.leaderboard import render

    folder = Path(out) if out else experiments_folder(state)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        print_table(table.title, table.header, table.cells(), fmt)
        (folder / f"{name}.csv").write_text(render(table.header, table.cells(), "csv"))
        click.echo(f"table written to {folder / f'{name}.csv'}")
    if plot is not None:
        click.echo(f"plot written to {plot(folder)}")


def mll_setup(state: State, task_spec: str, nodes_per_class: int, normalize_z: bool, logit_scale: float,
              weighting: str) -> tuple:
    """The session, tasks, MLL parameters (alpha set per experiment) and reuse settings."""
    from mllbench.report.experiments import ReuseOptions

    session = state.session
    return (session, session.bench.resolve_tasks(task_spec), selector_params(1.0, nodes_per_class, normalize_z),
            ReuseOptions(logit_scale, weighting))


@experiment.command("alpha")
@benchmark_here
@click.option("--alphas", default="0.5,0.6,0.7,0.8,0.9", show_default=True, callback=number_list(float),
              help="Eq. 7 values to compare.")
@output_options
@experiment_options
@click.pass_obj
def experiment_alpha(state: State, alphas, task_spec, fmt, out, nodes_per_class, normalize_z, logit_scale, weighting):
    """Table 3: MLL accuracy for each alpha, one model per class (k = 1)."""
    from mllbench.report.experiments import alpha_sweep
    from mllbench.report.plots import line_chart

    session, tasks_, params, reuse = mll_setup(state, task_spec, nodes_per_class, normalize_z, logit_scale, weighting)
    with state.progress():
        table, avg = alpha_sweep(session, tasks_, params, reuse, alphas)
    write_report(state, out, fmt, {"alpha": table}, lambda d: line_chart(
        d / "alpha.png", alphas, avg, "alpha (Eq. 7)", "average accuracy", f"MLL on {session.bench.name}, k = 1"))


@experiment.command("k")
@benchmark_here
@click.option("--ks", default=None, show_default="1,2,3,4,5,6 up to the hub size", callback=number_list(int),
              help="k values to compare.")
@ALPHA_OPTION
@output_options
@experiment_options
@click.pass_obj
def experiment_k(state: State, ks, alpha, task_spec, fmt, out, nodes_per_class, normalize_z, logit_scale, weighting):
    """Table 4: accuracy and inference cost (models run, relative to k = 1) per k.

    Accuracy is shown for both readings of Eq. 9 side by side, with 95 % bootstrap
    intervals over test images: inverse-entropy (the authors' code, the default) and
    entropy (the formula as printed); a --weighting of uniform is shown first, beside them.
    """
    from mllbench.report.experiments import KS, k_sweep, k_weightings
    from mllbench.report.plots import line_chart

    session, tasks_, params, reuse = mll_setup(state, task_spec, nodes_per_class, normalize_z, logit_scale, weighting)
    ks = ks if ks is not None else tuple(k for k in KS if k <= len(session.bench.models))
    with state.progress():
        table, acc, cost = k_sweep(session, tasks_, params, reuse, alpha, ks)
    names = k_weightings(reuse)
    write_report(state, out, fmt, {"k": table}, lambda d: line_chart(
        d / "k.png", ks, acc[0], "models reused per class (k)", f"average accuracy ({names[0]})",
        f"MLL on {session.bench.name}, alpha = {alpha}", right=("inference cost vs k = 1", cost),
        more=[(f"average accuracy ({w})", a) for w, a in zip(names[1:], acc[1:])]))


@experiment.command("growth")
@benchmark_here
@click.option("--orders", type=int, default=30, show_default=True, help="Random orders in which the hub grows.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random orders.")
@ALPHA_OPTION
@output_options
@experiment_options
@click.pass_obj
def experiment_growth(state: State, orders, seed, alpha, task_spec, fmt, out, nodes_per_class, normalize_z,
                      logit_scale, weighting):
    """Figure 3: average accuracy (k = 1) as the hub grows from one model to all."""
    from mllbench.report.experiments import hub_growth
    from mllbench.report.plots import line_chart

    session, tasks_, params, reuse = mll_setup(state, task_spec, nodes_per_class, normalize_z, logit_scale, weighting)
    with state.progress():
        table, curves = hub_growth(session, tasks_, params, reuse, alpha, orders, seed)
    mean, std = curves.mean(0), curves.std(0)
    write_report(state, out, fmt, {"growth": table}, lambda d: line_chart(
        d / "growth.png", range(1, curves.shape[1] + 1), mean, "models in the hub", "average accuracy",
        f"MLL on {session.bench.name}: {orders} random orders (mean ± std)", band=(mean - std, mean + std)))


@experiment.command("spider")
@benchmark_here
@click.option("--task", default=None, help="Task whose classes make Figure 1(b). Default: the first of --tasks.")
@output_options
@click.pass_obj
def experiment_spider(state: State, task, task_spec, fmt, out):
    """Figure 1: every hub model's accuracy per task and per class, as spider charts."""
    from mllbench.report.experiments import per_class_table, per_task_accuracy
    from mllbench.report.plots import spider_chart

    session = state.session
    tasks_ = session.bench.resolve_tasks(task_spec)
    task = task or tasks_[0]
    session.bench.task_entry(task)
    with state.progress():
        by_task, truth = per_task_accuracy(session, tasks_)
        by_class, per_class = per_class_table(session, task)
    ids = [m["id"] for m in session.bench.models]
    write_report(state, out, fmt, {"spider-tasks": by_task, "spider-classes": by_class}, lambda d: spider_chart(
        d / "spider.png", [("(a) accuracy per task", tasks_, dict(zip(ids, truth))),
                           (f"(b) accuracy per class of {task}", by_class.header[1:], dict(zip(ids, per_class)))]))


@experiment.command("subsets")
@benchmark_here
@output_options
@click.pass_obj
def experiment_subsets(state: State, task_spec, fmt, out):
    """LOVM's ModelGPT ablation: the best feature subset per score group (R5, tau, L1).

    The subset is picked on the test metric, as LOVM's published table does;
    on `-b lovm` / `-b lovm-recall` the paper's numbers are printed beside.
    """
    from mllbench.report.experiments import modelgpt_subsets
    from mllbench.host.lovm import PUBLISHED

    session = state.session
    table = session.bench.table
    published = PUBLISHED.get(table.target) if table is not None and table.source == "lovm" else None
    with state.progress():
        result = modelgpt_subsets(session, session.bench.resolve_tasks(task_spec), {}, published)
    write_report(state, out, fmt, {"modelgpt-subsets": result})


def main() -> None:
    """Entry point: user errors become one line, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except MllbenchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except Exception as exc:  # a plugin's bug: one line, traceback on request
        if os.environ.get("MLLBENCH_DEBUG"):
            traceback.print_exc()
        click.echo(f"Error: {type(exc).__name__}: {exc} (set MLLBENCH_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
