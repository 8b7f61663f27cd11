"""``mllbench verify``: the selection checked on a few labelled images of the user's task
(``Selection.verify``, ``mllbench/pipeline/verify.py``), as a table."""
from __future__ import annotations

import json

import click

from mllbench.cli.base import State, benchmark_here, cli, print_table
from mllbench.cli.flags import SelectorCommand, selection_options
from mllbench.cli.user import cost_options, describe, model_options_here, start, task_options


@cli.command(cls=SelectorCommand)
@benchmark_here
@task_options
@click.option("--images", required=True, type=click.Path(), help="Folder with one sub-folder of images per class, "
              "named as the classes (as `predict` scores them).")
@click.option("--top", "top_m", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many of the selection's best-ranked models to run, each alone (beside the ensemble).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@cost_options
@selection_options
@model_options_here
@click.pass_obj
def verify(state: State, images: str, top_m: int, as_json: bool, **options):
    """Check a selection on a few labelled images: its top models and the reused ensemble.

    Each candidate's accuracy with a 95% Wilson interval; its paired difference to the top pick
    (the selection's best-ranked model) with the sign-flip test `compare` uses (p and the
    interval that inverts it); and how many more labelled images would likely separate the two
    best (McNemar's normal approximation, 5% two-sided, 80% power). Resumable and cached like
    `predict`: each model's similarities on the images are stored in the registry.
    """
    from mllbench.pipeline.imageset import list_images

    files = list_images(images)  # a missing or empty folder is an error before any work
    with state.progress():
        sel = start(state, **options)
        result = sel.verify(files, top_m)
    if result.skipped:
        click.echo(f"warning: skipped {len(result.skipped)} unreadable file(s): {', '.join(result.skipped[:5])}",
                   err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
        return
    describe(sel)
    n = len(result.files)
    top = result.candidates[0]
    body = []
    for c in result.candidates:
        v = c.versus_top
        body.append([c.name, str(len(c.models)), f"{c.accuracy:.4f}", f"[{c.lo:.4f}, {c.hi:.4f}]",
                     "top pick" if v is None else f"{v['diff']:+.4f} [{v['lo']:+.4f}, {v['hi']:+.4f}]",
                     "" if v is None else f"{v['p']:.4f}"])
    ensemble = result.candidates[-1]
    print_table(f"verify on {n} labelled images", ["model", "models run", "accuracy", "95% interval (Wilson)",
                                                   f"minus {top.name} (95%)", "p"], body, "rich",
                [f"{ensemble.name} runs {', '.join(ensemble.models)}.",
                 "Differences are paired on the same images: one two-sided sign-flip test (1000 flips, seed 0), "
                 "its p and the shifts it does not reject, as `mllbench compare` prints them."])
    click.echo(separation_line(result.separation, n))


def separation_line(sep: dict, n: int) -> str:
    """The separation estimate of the two best, in words."""
    if not sep:
        return "one candidate only: nothing to separate"
    head = f"{sep['a']} vs {sep['b']}: difference {sep['difference']:+.4f}, discordant on {sep['discordance']:.1%}"
    if sep["more_images"] is None:
        return f"{head}; {sep['why']}"
    return (f"{head}; about {sep['needed']} labelled images would separate them (5% two-sided, "
            f"{sep['power']:.0%} power, {sep['method']}): {sep['more_images']} more than the {n} used")
