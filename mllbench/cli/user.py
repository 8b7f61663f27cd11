"""``mllbench select`` and ``mllbench predict``: the Python API (``mllbench/api.py``) with tables.

A task is a benchmark's (``--task NAME``) or the user's own: ``--task FILE``
(JSON, or YAML with PyYAML), ``--classes "a, b"`` or ``--classes-file``. A selector's options
are flags, as for ``run`` (``cli/flags.py``).
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable

import click

from mllbench.api import Hub, Selection
from mllbench.cli.base import State, benchmark_here, cli, console, with_options
from mllbench.cli.flags import SelectorCommand, selection, selection_options
from mllbench.core.types import MllbenchError, TaskInfo

task_options = with_options([
    click.option("--task", "-t", "task", default=None, help="A benchmark's target task (see `mllbench tasks`), or a "
                 "task file: JSON (or YAML with PyYAML) with classnames and optionally name, domain, task_type, "
                 "templates."),
    click.option("--classes", default=None,
                 help='Your task\'s classes, comma-separated: "tabby cat, golden retriever".'),
    click.option("--classes-file", type=click.Path(dir_okay=False), default=None,
                 help="Your task's classes, one a line."),
    click.option("--domain", default=None, help='Your task\'s domain, e.g. "cartoon emoji picture" (captions use it). '
                 "Default: natural picture."),
    click.option("--task-type", default=None, help="Your task's type, e.g. \"sign recognition\". "
                 "Default: image classification."),
])

cost_options = with_options([
    click.option("--max-gflops", type=click.FloatRange(min=0), default=None,
                 help="Select only among hub models costing at most this many GFLOPs per image (image tower; "
                 "the hub's metadata gflops or flops_b)."),
    click.option("--max-params", type=click.FloatRange(min=0), default=None,
                 help="Select only among hub models with at most this many million parameters (metadata params_m)."),
])


def model_options_here(f: Callable) -> Callable:
    """``--device``, ``--precision``, ``--batch-size`` after the command too (same as the global ones)."""
    def setter(key: str):
        def choose(ctx, param, value):
            if value is not None:
                ctx.find_object(State).options[key] = value
        return choose

    for option in reversed([
            click.option("--device", "device_here", default=None, expose_value=False, callback=setter("device"),
                         help="Torch device for models (same as the global --device)."),
            click.option("--precision", "precision_here", type=click.Choice(["fp32", "amp", "fp16"]), default=None,
                         expose_value=False, callback=setter("precision"), help="Model arithmetic (same as the "
                         "global --precision)."),
            click.option("--batch-size", "batch_size_here", type=click.IntRange(min=1), default=None,
                         expose_value=False, callback=setter("batch_size"),
                         help="Images per forward pass (same as the global --batch-size).")]):
        f = option(f)
    return f


def resolve_task(hub: Hub, task: str | None, classes: str | None, classes_file: str | None, domain: str | None,
                 task_type: str | None) -> TaskInfo:
    """The one task the options name: exactly one of --task, --classes, --classes-file."""
    from mllbench.api import parse_classes, read_classes_file

    given = [flag for flag, value in (("--task", task), ("--classes", classes), ("--classes-file", classes_file))
             if value is not None]
    if len(given) != 1:
        raise MllbenchError(f"give exactly one of --task NAME|FILE, --classes \"a, b\" or --classes-file FILE "
                            f"(got {', '.join(given) or 'none'})")
    if task is not None:
        info = hub.task(task)
    else:
        names = parse_classes(classes) if classes is not None else read_classes_file(classes_file)
        if not names:
            raise MllbenchError(f"{given[0]} names no class; give class names, e.g. --classes \"cat, dog\"")
        info = hub.task(names)
    overrides = {k: v for k, v in (("domain", domain), ("task_type", task_type)) if v is not None}
    return hub.task(replace(info, **overrides)) if overrides else info


def describe(sel: Selection) -> None:
    """One line naming the task as selected for (captions depend on its domain and type)."""
    task = sel.task
    click.echo(f"task {task.name!r}: {len(task.classnames)} classes, domain {task.domain!r}, "
               f"task type {task.task_type!r}; selector {sel.method}, k={sel.k}")


def start(state: State, task: str | None, classes: str | None, classes_file: str | None, domain: str | None,
          task_type: str | None, method: str, extra: dict, max_gflops: float | None = None,
          max_params: float | None = None) -> Selection:
    """Check the options (the selector's flags and -p, as `run` does), then select (inside the
    command's progress display); a cost limit's note on the models left out goes to stderr."""
    reuse, params = selection(state, method, extra)
    hub = Hub(state.session)
    info = resolve_task(hub, task, classes, classes_file, domain, task_type)
    sel = hub.select(info, method, reuse.k, logit_scale=reuse.logit_scale, weighting=reuse.weighting,
                     max_gflops=max_gflops, max_params=max_params, **params)
    if sel.left_out:
        click.echo(sel.left_out, err=True)
    return sel


@cli.command(cls=SelectorCommand)
@benchmark_here
@task_options
@cost_options
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--explain", is_flag=True, help="Also why: per class the graph nodes matched (similarity, Z weight, "
              "node images) and the next best, a warning for a class the graph barely covers, and per chosen model "
              "the Eq. 5 counts behind its score with 95% Wilson intervals.")
@click.pass_obj
def select(state: State, as_json: bool, explain: bool, **options):
    """Show the models a selector picks for each class of a task, with scores, and the hub ranking.

    The task is a benchmark's or your own (classes in no benchmark). Needs only the registry's
    labels and the text embedder: no image is read, no image tower runs.
    """
    with state.progress():
        sel = start(state, **options)
    if as_json:
        click.echo(json.dumps(sel.to_dict(explain), indent=1))
        return
    from rich.markup import escape
    from rich.table import Table

    describe(sel)
    t = Table(title=escape(f"{sel.method} (k={sel.k}): models per class"))
    t.add_column("class")
    t.add_column("selected models (score)")
    for c in sel.task.classnames:
        t.add_row(escape(c), ", ".join(f"{m} ({s:.4f})" for m, s in sel.models_for(c)))
    console().print(t)
    r = Table(title="hub ranking")
    for col, justify in (("rank", "right"), ("model", "left"), ("mean score", "right")):
        r.add_column(col, justify=justify)
    for i, (m, s) in enumerate(sel.ranking, 1):
        r.add_row(str(i), m, f"{s:.4f}")
    console().print(r)
    if explain:
        print_explanation(sel)


def print_explanation(sel: Selection) -> None:
    """``select --explain``: per class, its nodes, the next best, the coverage warning, the evidence."""
    from rich.markup import escape
    from rich.table import Table

    out = sel.explain()
    if out is None:
        click.echo(f"selector {sel.method!r} offers no explanation (it has no explain method)")
        return
    cover = out["coverage"]
    for c, entry in out["classes"].items():
        t = Table(title=escape(f"{c}: matched graph nodes (best similarity {entry['best_similarity']:.3f})"))
        for col in ("", "wnid", "name", "similarity", "Z", "node images", "caption"):
            t.add_column(col)
        for kind, nodes in (("matched", entry["nodes"]), ("next best", entry["alternatives"])):
            for n in nodes:
                t.add_row(kind, n["wnid"], escape(n["name"]), f"{n['similarity']:.3f}", f"{n['z']:.3f}",
                          str(n["n_images"]), escape(n["caption"][:60]))
        console().print(t)
        if entry["poorly_covered"]:
            click.echo(f"warning: {c!r} is poorly covered by the graph: its best similarity "
                       f"{entry['best_similarity']:.3f} is below {cover['threshold']:.3f} ({cover['origin']}); "
                       "its models are chosen on nodes that may not mean it")
        for m in entry["models"]:
            evidence = "; ".join(f"{n['wnid']} {n['correct']}/{n['total']} [{n['lo']:.2f}, {n['hi']:.2f}]"
                                 for n in m["nodes"])
            click.echo(f"  {m['model']}: score {m['score']:.4f} = {m['alpha']} × class precision "
                       f"{m['class_precision']:.4f} + {1 - m['alpha']:.2g} × task mean {m['task_precision']:.4f}; "
                       f"Eq. 5 per node, correct/node images [{out['interval']}]: {evidence}")


@cli.command(cls=SelectorCommand)
@benchmark_here
@task_options
@click.option("--images", required=True, type=click.Path(), help="Folder of images (searched recursively). With "
              "one sub-folder per class, named as the classes, the predictions are also scored.")
@click.option("--out", type=click.Path(dir_okay=False), default="predictions.csv", show_default=True,
              help="CSV: file, predicted, confidence, [true,] and each reused model's probability of the prediction.")
@cost_options
@selection_options
@model_options_here
@click.pass_obj
def predict(state: State, images: str, out: str, **options):
    """Select models for a task, run each chosen one once over your images and ensemble them (Eqs. 8-10).

    Resumable: each model's similarities on the images are cached in the registry, so a rerun
    after an interruption runs only the models that had not finished. Files that are not
    readable images are listed and skipped.
    """
    from mllbench.pipeline.imageset import list_images

    files = list_images(images)  # a missing or empty folder is an error before any work
    with state.progress():
        sel = start(state, **options)
        pred = sel.predict(files)
    if pred.skipped:
        names = ", ".join(name for name, _ in pred.skipped[:5]) + (", …" if len(pred.skipped) > 5 else "")
        click.echo(f"warning: skipped {len(pred.skipped)} unreadable or non-image file(s): {names}", err=True)
    path = pred.write_csv(out)
    from rich.markup import escape
    from rich.table import Table

    n = len(pred.files)
    describe(sel)
    click.echo(f"{n} images classified with {len(pred.models)} reused models: {', '.join(pred.models)}")
    t = Table(title="predictions")
    for col, justify in (("file", "left"), ("predicted", "left"), ("confidence", "right")):
        t.add_column(col, justify=justify)
    for r in pred.records()[:10]:
        t.add_row(escape(r["file"]), escape(r["predicted"]), f"{r['confidence']:.4f}")
    if n > 10:
        t.add_row(f"… {n - 10} more in {path}", "", "")
    console().print(t)
    if pred.accuracy is not None:
        lo, hi = pred.interval()
        click.echo(f"accuracy {pred.accuracy:.4f} (95% interval {lo:.4f}–{hi:.4f}: percentile bootstrap over the "
                   f"{n} images, 1000 resamples, seed 0)")
    elif pred.unscored:
        click.echo(f"not scored: {pred.unscored}")
    click.echo(f"predictions written to {path}")
