"""Reading results: ``leaderboard``, ``compare`` and ``report`` (a static HTML site). They run
no selector; the leaderboard's row labels leave out each selector's declared defaults."""
from __future__ import annotations

from pathlib import Path

import click

from mllbench.cli.base import (TABLE_FORMATS, State, benchmark_here, cli, experiments_folder, print_table,
                               stored_results, with_options)
from mllbench.cli.flags import label_defaults
from mllbench.core.types import MllbenchError
from mllbench.maths.ranking import METRICS

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
@click.option("--cost", is_flag=True, help="Add each row's reuse cost: GFLOPs per image of the models an image "
              "passes through (the union reused on a task), averaged over tasks; from the hub's metadata.")
@stats_options
@click.pass_obj
def leaderboard(state: State, fmt: str, per_model: bool, no_oracle: bool, metric: str, truth: str,
                aggregate: str | None, resamples: int, seed: int, every: bool, cost: bool):
    """One row per configuration x tasks: accuracy (or a ranking metric) with 95% bootstrap intervals.

    ★ marks each column's best row, ≈ rows not significantly different from it
    (paired sign-flip test at 0.05); `mllbench compare A B` shows the same test.
    """
    from mllbench.report.leaderboard import board
    from mllbench.pipeline.truth import cached_truth, ground_truth
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
    elif per_model or metric != "accuracy":
        gt = ground_truth(session, tasks_)  # read from the registry; what it lacks: one line naming the command
        oracle = None if no_oracle or metric != "accuracy" else dict(zip(tasks_, gt.max(0)))
    elif not no_oracle:
        gt, note = cached_truth(session, tasks_)  # reading never computes: no oracle row without the predictions
        if gt is None:
            click.echo(f"no oracle row: {note}", err=True)
        oracle = None if gt is None else dict(zip(tasks_, gt.max(0)))
    else:
        gt, oracle = None, None
    b = board(results, tasks_, oracle, metric=metric, truth=gt, hub=[m["id"] for m in bench.models],
              defaults=label_defaults(state, {r["method"] for r in results}), every=every,
              resamples=resamples, seed=seed)
    title = ("accuracy after reuse" if metric == "accuracy"
             else f"{metric} of the model ranking vs ground truth {source}")
    header, rows = b.csv() if fmt == "csv" else b.display(sep="\n" if fmt == "rich" else " ")
    notes = b.notes()
    if cost:
        from mllbench.pipeline.cost import model_gflops
        from mllbench.report.leaderboard import MISSING, reuse_gflops

        gflops = model_gflops(bench.models)
        header = [*header, "GFLOPs/img"]
        costs = [reuse_gflops(r, tasks_, gflops) for r in b.results]
        rows = [[*row, MISSING if c is None else f"{c:.4f}"] for row, c in zip(rows, costs)] + [[*r, ""] for r in rows[len(costs):]]
        notes.append("GFLOPs/img: the models reused on a task, summed per image (image towers; the hub's "
                     "metadata gflops or flops_b), averaged over the tasks; – where a cost is unknown.")
    sections = [(f"leaderboard: {bench.name} ({title})", header, rows, notes)]
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
    """A − B per task and on average, paired on the same test images: one sign-flip test, p and 95% interval.

    A and B are leaderboard row labels, or method names with one configuration.
    p is a two-sided paired sign-flip (permutation) test: each resample swaps A's
    and B's outcome on every image with probability ½. The interval is that test
    inverted (every shift of A − B it does not reject at 5%), so it excludes 0
    exactly when p < 0.05, as the leaderboard's ≈ marks do.
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
                [f"Paired on the same test images: one two-sided sign-flip test of A − B ({resamples} flips of each "
                 f"task's images, seed {seed}); p is its p-value, the 95% interval the shifts it does not reject, "
                 "so the interval excludes 0 exactly when p < 0.05 (the leaderboard's ≈ rule)."])


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
    from mllbench.pipeline.truth import cached_truth
    from mllbench.report.html import Page, experiment_files, render, write_site

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

