"""``mllbench results export|import`` (``report/exchange.py``) and ``mllbench new-plugin``
(``cli/scaffold.py``)."""
from __future__ import annotations

from pathlib import Path

import click

from mllbench.cli.base import State, benchmark_here, cli, stored_results
from mllbench.cli.scaffold import KINDS


@cli.group()
def results():
    """Share results between registries: one portable file out, others' files in.

    The leaderboard then shows every machine's rows. Files must come from the
    same benchmark definition and semantic graph; import validates every file
    before writing anything and skips results already present.
    """


@results.command("export")
@benchmark_here
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="The file to write (gzip'd JSON). Default: ./<benchmark>-results.json.gz.")
@click.pass_obj
def results_export(state: State, out: str | None):
    """Write the benchmark's results, per-image outcomes included, to one file."""
    from mllbench.report.exchange import default_export_name, export_results, local_reference

    path = Path(out) if out else default_export_name(state.bench.name)
    done, left_out = export_results(stored_results(state), local_reference(state.session), path)
    if left_out:
        click.echo(f"warning: left out {left_out} result(s) made on an older definition of the benchmark or "
                   "another graph (rerun them to share them)", err=True)
    click.echo(f"exported {done} result(s) of benchmark {state.bench.name!r} to {path}")


@results.command("import")
@benchmark_here
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_obj
def results_import(state: State, files: tuple[str, ...]):
    """Merge exported result files into this registry (all files valid, or nothing is written)."""
    from mllbench.report.exchange import import_results, local_reference

    session = state.session
    report = import_results([Path(f) for f in files], local_reference(session),
                            session.store.results_dir(session.bench.name))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"imported {len(report.written)} result(s) from {len(files)} file(s) into {session.store.root} "
               f"({report.duplicates} already present: skipped)")


@cli.command("new-plugin")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(list(KINDS)), help="What the plugin registers.")
@click.option("--out", type=click.Path(), default=None,
              help="The package folder to create (must not exist). Default: ./mllbench-NAME.")
@click.pass_obj
def new_plugin(state: State, name: str, kind: str, out: str | None):
    """Write an installable plugin package: pyproject.toml (entry point), module, README, test."""
    from mllbench.cli.scaffold import check_free, check_name, new_plugin as write

    check_name(name)
    check_free(name, kind, state.host.registries)
    path = write(name, kind, Path(out) if out else None)
    click.echo(f"wrote {kind} plugin {name!r} to {path}; next: pip install -e {path} && mllbench plugins")
