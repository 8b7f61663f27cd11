"""``mllbench run``: label what is missing, select with a selector, reuse, evaluate, store."""
from __future__ import annotations

import click

from mllbench.cli.base import State, benchmark_here, cli, console, executor_options
from mllbench.cli.flags import SelectorCommand, selection, selection_options


@cli.command(cls=SelectorCommand)
@benchmark_here
@click.option("--tasks", "task_spec", default="all", show_default=True, help="'all' or comma-separated target tasks.")
@selection_options
@click.option("--dry-run", is_flag=True, help="Only list, per model and dataset, whether it is cached or in the "
              "registry and what must be fetched (GB); loads and downloads nothing.")
@executor_options
@click.pass_obj
def run(state: State, task_spec: str, method: str, extra: dict, dry_run: bool, **executor):
    """Label what is missing, select, reuse, evaluate and store the result.

    A selector's options are flags here (`mllbench plugins` lists them), or `-p NAME=VALUE`.
    """
    from mllbench.pipeline.run import run_method

    reuse, params = selection(state, method, extra)  # every value checked before anything runs
    state.use_executor(**executor)
    session = state.session
    tasks_ = session.bench.resolve_tasks(task_spec)
    if dry_run:
        from mllbench.pipeline.dryrun import report

        click.echo(report(session.bench, session.store, tasks_, session.captioner, session.embedder))
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
