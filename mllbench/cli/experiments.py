"""``mllbench experiment ...``: the paper's experiments (Tables 3-4, Figures 1 and 3),
LOVM's ModelGPT ablation and accuracy against compute, each a table (screen + CSV) and a plot. MLL's options are flags of
the MLL experiments, made from the MLL plugin's declaration."""
from __future__ import annotations

from pathlib import Path

import click

from mllbench.cli.base import (TABLE_FORMATS, State, benchmark_here, cli, experiments_folder, number_list,
                               print_table, stored_results, with_options)
from mllbench.cli.flags import SelectorCommand, label_defaults, reuse_flags, selection

output_options = with_options([
    click.option("--tasks", "task_spec", default="all", show_default=True, help="'all' or comma-separated target tasks."),
    click.option("--format", "fmt", type=TABLE_FORMATS, default="rich", show_default=True, help="How the table prints."),
    click.option("--out", type=click.Path(file_okay=False), default=None,
                 help="Folder for the CSV tables and the PNG plot. Default: ./mllbench-out/<benchmark>/."),
])
MLL = {"cls": SelectorCommand, "methods": ("mll",)}  # the MLL experiments: MLL's options as flags
experiment_options = reuse_flags(("logit_scale", "weighting"))


@cli.group()
def experiment():
    """The paper's experiments: a table (screen + CSV) and a PNG plot each.

    Models run only for labels or predictions the registry lacks, so a
    rerun, or another experiment on the same benchmark, takes seconds.
    """


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


def mll_setup(state: State, task_spec: str) -> tuple:
    """The session, the tasks, MLL's params from its flags (alpha set per experiment), the reuse
    settings, and --alpha; every value checked before any model runs."""
    from mllbench.report.experiments import ReuseOptions

    reuse, params = selection(state, "mll", {}, fill=lambda option: True)
    session = state.session
    return (session, session.bench.resolve_tasks(task_spec), {**params, "alpha": 1.0},
            ReuseOptions(reuse.logit_scale, reuse.weighting), params["alpha"])


@experiment.command("alpha", skip=("alpha",), **MLL)
@benchmark_here
@click.option("--alphas", default="0.5,0.6,0.7,0.8,0.9", show_default=True, callback=number_list(float),
              help="Eq. 7 values to compare.")
@output_options
@experiment_options
@click.pass_obj
def experiment_alpha(state: State, alphas, task_spec, fmt, out):
    """Table 3: MLL accuracy for each alpha, one model per class (k = 1)."""
    from mllbench.report.experiments import alpha_sweep
    from mllbench.report.plots import line_chart

    session, tasks_, params, reuse, _ = mll_setup(state, task_spec)
    with state.progress():
        table, avg = alpha_sweep(session, tasks_, params, reuse, alphas)
    write_report(state, out, fmt, {"alpha": table}, lambda d: line_chart(
        d / "alpha.png", alphas, avg, "alpha (Eq. 7)", "average accuracy", f"MLL on {session.bench.name}, k = 1"))


@experiment.command("k", **MLL)
@benchmark_here
@click.option("--ks", default=None, show_default="1,2,3,4,5,6 up to the hub size", callback=number_list(int),
              help="k values to compare.")
@output_options
@experiment_options
@click.pass_obj
def experiment_k(state: State, ks, task_spec, fmt, out):
    """Table 4: accuracy and inference cost (models run, relative to k = 1) per k.

    Accuracy is shown for both readings of Eq. 9 side by side, with 95 % bootstrap
    intervals over test images: inverse-entropy (the authors' code, the default) and
    entropy (the formula as printed); a --weighting of uniform is shown first, beside them.
    """
    from mllbench.report.experiments import KS, k_sweep, k_weightings
    from mllbench.report.plots import line_chart

    session, tasks_, params, reuse, alpha = mll_setup(state, task_spec)
    ks = ks if ks is not None else tuple(k for k in KS if k <= len(session.bench.models))
    with state.progress():
        table, acc, cost, gflops = k_sweep(session, tasks_, params, reuse, alpha, ks)
    names = k_weightings(reuse)
    right = ("inference cost vs k = 1", cost) if gflops is None else ("GFLOPs per image (models reused)", gflops)
    write_report(state, out, fmt, {"k": table}, lambda d: line_chart(
        d / "k.png", ks, acc[0], "models reused per class (k)", f"average accuracy ({names[0]})",
        f"MLL on {session.bench.name}, alpha = {alpha}", right=right,
        more=[(f"average accuracy ({w})", a) for w, a in zip(names[1:], acc[1:])]))


@experiment.command("cost")
@benchmark_here
@output_options
@click.pass_obj
def experiment_cost(state: State, task_spec, fmt, out):
    """Accuracy against compute for every stored result (methods x k), the Pareto front marked.

    Compute is the GFLOPs per image of the models a result reuses on a task (the union over its
    classes), averaged over the tasks, from the hub's metadata (gflops or flops_b). Reads the
    stored results only: no model runs. `mllbench report` shows the plot.
    """
    from mllbench.pipeline.cost import model_gflops
    from mllbench.report.experiments import cost_table
    from mllbench.report.leaderboard import board
    from mllbench.report.plots import pareto_chart

    bench = state.bench
    results = stored_results(state)
    tasks_ = bench.resolve_tasks(task_spec)
    b = board(results, tasks_, defaults=label_defaults(state, {r["method"] for r in results}))
    table, notes = cost_table(b, model_gflops(bench.models))
    for note in notes:
        click.echo(note, err=True)
    write_report(state, out, fmt, {"cost": table}, lambda d: pareto_chart(
        d / "cost.png", [(r[0], r[3], r[4], r[5], r[6], r[7] == "yes") for r in table.rows],
        "GFLOPs per image (models reused, mean over tasks)", "average accuracy (95% interval)",
        f"accuracy against compute on {bench.name} ({len(tasks_)} tasks)"))


@experiment.command("growth", **MLL)
@benchmark_here
@click.option("--orders", type=int, default=30, show_default=True, help="Random orders in which the hub grows.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random orders.")
@output_options
@experiment_options
@click.pass_obj
def experiment_growth(state: State, orders, seed, task_spec, fmt, out):
    """Figure 3: average accuracy (k = 1) as the hub grows from one model to all."""
    from mllbench.report.experiments import hub_growth
    from mllbench.report.plots import line_chart

    session, tasks_, params, reuse, alpha = mll_setup(state, task_spec)
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

    session = state.session
    published = session.bench.published()
    with state.progress():
        result = modelgpt_subsets(session, session.bench.resolve_tasks(task_spec), {}, published)
    write_report(state, out, fmt, {"modelgpt-subsets": result})
