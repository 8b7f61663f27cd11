"""``mllbench run``: label what is missing, select with a selector, reuse, evaluate, store."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from mllbench.cli.base import State, benchmark_here, cli, console, executor_options, print_table
from mllbench.cli.flags import SelectorCommand, selection, selection_options

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


@cli.command(cls=SelectorCommand)
@benchmark_here
@click.option("--tasks", "task_spec", default="all", show_default=True, help="'all' or comma-separated target tasks.")
@selection_options
@click.option("--dry-run", is_flag=True, help="Only list, per model and dataset, whether it is cached or in the "
              "registry and what must be fetched (GB), and per model the images the run would encode, its "
              "estimated GPU hours and label size; loads and downloads nothing.")
@click.option("--assume-throughput", metavar="TFLOPS|FILE", default=None,
              help="With --dry-run: the effective TFLOP/s of one GPU (default: timm's RTX 4090 figures), or the "
              "throughput.json a rehearsal wrote (benchmarks/perf/gpu_check.sh: measured images/s).")
@executor_options
@click.pass_obj
def run(state: State, task_spec: str, method: str, extra: dict, dry_run: bool, assume_throughput: str | None,
        **executor):
    """Label what is missing, select, reuse, evaluate and store the result.

    A selector's options are flags here (`mllbench plugins` lists them), or `-p NAME=VALUE`.
    """
    from mllbench.pipeline.run import run_method

    reuse, params = selection(state, method, extra)  # every value checked before anything runs
    state.use_executor(**executor)
    session = state.session
    tasks_ = session.bench.resolve_tasks(task_spec)
    if assume_throughput is not None and not dry_run:
        raise click.UsageError("--assume-throughput goes with --dry-run (it only changes the cost estimate)")
    if dry_run:
        dry_run_report(session, tasks_, method, assume_throughput)
        return
    with state.progress():
        result, path = run_method(session, method, tasks_, params, reuse.k, reuse.logit_scale, reuse.weighting)
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


def dry_run_report(session: "Session", tasks: list[str], method: str, throughput: str | None) -> None:
    """What the run needs to fetch, then what it would compute and cost: a rich table on a
    terminal, markdown when piped."""
    from mllbench.pipeline.dryrun import cost_report, report

    bench = session.bench
    click.echo(report(bench, session.store, tasks, session.captioner, session.embedder))
    if bench.no_images():
        return
    title, head, rows, notes = cost_report(bench, session.store, tasks, method, throughput, session.max_sample_classes)
    fmt = "rich" if sys.stdout.isatty() else "markdown"
    click.echo("" if fmt == "rich" else f"\n{title}\n")
    print_table(title, head, rows, fmt, notes)
