"""What is installed and what a benchmark holds: ``plugins``, ``benchmarks``, ``models``,
``tasks``, and ``label`` (the hub's labels on the semantic graph)."""
from __future__ import annotations

import json

import click

from mllbench.cli.base import State, benchmark_here, cli, console, executor_options


def plugin_listing(state: State) -> list[dict]:
    """Every plugin's record, its commands registered (``register_commands``), and the declared
    options of the selectors it registers, by selector."""
    cli.plugin_commands()  # plugins' commands join their records' ``registered``
    host = state.host
    return [{**r.__dict__, "options": {name: host.selector(name).describe()
                                       for name in r.registered.get("selector", [])}} for r in host.plugins]


def option_rows(listing: list[dict]) -> list[tuple[str, ...]]:
    """One row per declared option: selector, option, type, default, range or choices, help."""
    rows = []
    for record in listing:
        for selector, options in record["options"].items():
            for o in options:
                default = o["default"] if isinstance(o["default"], str) else json.dumps(o["default"])
                rows.append((selector, o["name"], o["type"], default, o["range"], o["help"]))
    return rows


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def plugins(state: State, as_json: bool):
    """List plugins (built-in and installed), their hooks, what they register and each selector's options."""
    listing = plugin_listing(state)
    if as_json:
        click.echo(json.dumps(listing, indent=1))
        return
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="mllbench plugins")
    for col in ("name", "distribution", "version", "registers", "status"):
        t.add_column(col)
    for r in listing:
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["registered"].items())
        t.add_row(r["name"], r["distribution"], r["version"], registers,
                  f"[red]{escape(r['error'])}[/red]" if r["error"] else "ok")
    console().print(t)
    o = Table(title="selector options (flags of run/select/predict, or -p NAME=VALUE)")
    for col in ("selector", "option", "type", "default", "valid", "help"):
        o.add_column(col, overflow="fold")
    for row in option_rows(listing):
        o.add_row(*map(escape, row))
    console().print(o)


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

    def present(*columns: tuple[str, str]) -> list[tuple[str, str]]:
        """Optional entry keys, shown when a definition has them: dataset names, test images, size."""
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
