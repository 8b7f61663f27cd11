"""The table-only LOVM benchmark (`-b lovm`, `-b lovm-recall`), tested without LOVM's data.

LOVM's repository has no licence, so its tables are not vendored
(benchmarks/reference/README.md). Each test makes a small table set in LOVM's
format in tmp_path (``tests/lovm_tables.py``: 8 models x 6 datasets, seeded
random accuracies and ModelGPT's feature columns, LOVM's file names, columns
and JSON quirks) and points the benchmark at it as users do (``--lovm-dir`` or
MLLBENCH_LOVM_DIR). Every leaderboard number checked is recomputed here from
the fixture's CSV, independently of mllbench's code.

The only tests that may skip are the ones reproducing LOVM's PUBLISHED
numbers (``published`` fixture): they need LOVM's own tables, found in
benchmarks/reference/lovm or the product's pinned download (its cache, or a
fetch at the pinned commit when the network is reachable); skip reason:
"LOVM's published tables (no licence to vendor; fetched pinned when online)".
"""
import csv
import json

import numpy as np
import pytest

import lovm_tables  # tests/lovm_tables.py (conftest puts tests/ on sys.path)

T = lovm_tables
pytestmark = pytest.mark.usefixtures("reference_env")  # own cache, no LOVM location from the machine


def run(cli, registry, directory, *args, benchmark="lovm"):
    code, out = cli("-q", "-b", benchmark, "--lovm-dir", str(directory), "--registry", str(registry), "run", *args)
    assert code == 0, out


def leaderboard(cli, registry, directory, metric, benchmark="lovm"):
    """method label -> the csv row, by header name (the csv also carries intervals and more)."""
    code, out = cli("-q", "-b", benchmark, "--lovm-dir", str(directory), "--registry", str(registry),
                    "leaderboard", "--metric", metric, "--format", "csv")
    assert code == 0, out
    return {row["method"]: row for row in csv.DictReader(out.splitlines())}


def assert_row(row, want):
    """Every dataset column and the average equal the recomputation (4 digits, as printed)."""
    assert {k: float(row[k]) for k in want} == pytest.approx(want, abs=5e-5)


@pytest.mark.parametrize("benchmark,column", [("lovm", "acc1"), ("lovm-recall", "mean_per_class_recall")])
def test_inb_metrics_equal_a_recomputation_from_the_csv(cli, registry, lovm_table, benchmark, column):
    """INB ranks every dataset by the ImageNet column of the benchmark's target; R5, tau, L1,
    regret and accuracy after reuse per dataset and on average, recomputed from the CSV."""
    rows = T.read_rows(lovm_table)
    truth = T.by_dataset(rows, column)
    predicted = T.inb_predictions(truth)
    run(cli, registry, lovm_table, "-m", "inb", benchmark=benchmark)
    for metric in ("r5", "tau", "l1", "regret"):
        assert_row(leaderboard(cli, registry, lovm_table, metric, benchmark)["inb (k=1)"],
                   T.expected(metric, predicted, truth))
    best_on_imagenet = max(truth["imagenet1k"], key=truth["imagenet1k"].get)
    board = leaderboard(cli, registry, lovm_table, "accuracy", benchmark)
    assert_row(board["inb (k=1)"], {d: truth[d][best_on_imagenet] for d in truth}
               | {"avg": np.mean([truth[d][best_on_imagenet] for d in truth])})
    assert_row(board["oracle (best single model)"], {d: max(truth[d].values()) for d in truth})


def test_the_recall_variant_reads_its_column(cli, registry, lovm_table):
    """lovm-recall scores against mean_per_class_recall: its numbers are not lovm's (acc1)."""
    rows = T.read_rows(lovm_table)
    got, want = {}, {}
    for benchmark, column in (("lovm", "acc1"), ("lovm-recall", "mean_per_class_recall")):
        truth = T.by_dataset(rows, column)
        run(cli, registry, lovm_table, "-m", "inb", benchmark=benchmark)
        got[benchmark] = leaderboard(cli, registry, lovm_table, "l1", benchmark)["inb (k=1)"]["avg"]
        want[benchmark] = f"{T.expected('l1', T.inb_predictions(truth), truth)['avg']:.4f}"
    assert got == want and got["lovm"] != got["lovm-recall"]


def test_modelgpt_leave_one_dataset_out(cli, registry, lovm_table):
    """ModelGPT on every dataset is fitted on the other five (centred targets rank, raw ones
    predict accuracy); its scores and leaderboard rows equal a recomputation from the CSV,
    and only the raw fit gets an L1."""
    rows = T.read_rows(lovm_table)
    truth = T.by_dataset(rows, "acc1")
    fits = {"modelgpt (k=1)": T.modelgpt_predictions(rows, "acc1", T.FEATURES, centred=True),
            "modelgpt (k=1, target=raw)": T.modelgpt_predictions(rows, "acc1", T.FEATURES, centred=False)}
    run(cli, registry, lovm_table, "-m", "modelgpt")
    run(cli, registry, lovm_table, "-m", "modelgpt", "-p", "target=raw")
    stored = [r for r in (json.loads(p.read_text()) for p in (registry / "results").rglob("*.json"))
              if r.get("method") == "modelgpt"]
    models = list(dict.fromkeys(r["model_fullname"] for r in rows))
    for result in stored:
        want = fits["modelgpt (k=1, target=raw)" if result["params"].get("target") == "raw" else "modelgpt (k=1)"]
        assert result["hub"] == models
        for d, entry in result["tasks"].items():
            assert entry["model_scores"] == pytest.approx([want[d][m] for m in models], abs=1e-9)
    assert len(stored) == 2
    for metric in ("r5", "tau", "regret", "l1"):
        board = leaderboard(cli, registry, lovm_table, metric)
        for label, predicted in fits.items():
            if metric == "l1" and "target=raw" not in label:
                assert {board[label][d] for d in [*truth, "avg"]} == {"–"}  # centred scores are no accuracies
            else:
                assert_row(board[label], T.expected(metric, predicted, truth))
    # leave-one-out matters: a fit that saw the held-out dataset predicts something else
    assert board["modelgpt (k=1, target=raw)"]["avg"] != f"{T.expected('l1', seen(rows), truth)['avg']:.4f}"


def seen(rows):
    """A raw ModelGPT fit on all datasets, the held-out one included (what LOVM does not do)."""
    x = np.array([[1.0, *(float(r[c]) for c in T.FEATURES)] for r in rows])
    y = np.array([float(r["acc1"]) for r in rows])
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    out = {}
    for r, p in zip(rows, x @ coef):
        out.setdefault(r["dataset"], {})[r["model_fullname"]] = float(p)
    return out


def test_lovm_dir_from_the_environment(cli, registry, lovm_table, monkeypatch):
    monkeypatch.setenv("MLLBENCH_LOVM_DIR", str(lovm_table))
    code, out = cli("-q", "run", "--benchmark", "lovm", "--registry", str(registry), "--method", "inb")
    assert code == 0, out
    code, out = cli("-q", "-b", "lovm", "--registry", str(registry), "models")
    assert code == 0 and all(f"{m} {p}" in out for m, p in T.MODELS), out
    # domains and task types from the two JSON files, the entry after LOVM's missing comma too
    code, out = cli("-q", "-b", "lovm", "--registry", str(registry), "tasks")
    assert code == 0 and all(v in out for pair in T.DATASETS.values() for v in pair), out


def test_lovm_without_its_tables_is_a_one_line_error(cli, registry, monkeypatch):
    # nothing cached, and the pinned URL unreachable: the error says how to supply the files
    monkeypatch.setenv("MLLBENCH_LOVM_URL", "http://127.0.0.1:9")
    code, out = cli("-b", "lovm", "--registry", str(registry), "run", "-m", "inb")
    assert code == 2 and "--lovm-dir" in out and "Traceback" not in out
    code, out = cli("-b", "lovm", "--offline", "--registry", str(registry), "run", "-m", "inb")
    assert code == 2 and "--lovm-dir" in out and "not cached" in out and "Traceback" not in out


def _drop_file(d):
    (d / "dataset_tasks.json").unlink()


def _drop_row(d):
    lines = (d / "eval_table_features.csv").read_text().splitlines(keepends=True)
    (d / "eval_table_features.csv").write_text("".join(lines[:3] + lines[4:]))


def _rename_column(d):
    text = (d / "eval_table_features.csv").read_text()
    (d / "eval_table_features.csv").write_text(text.replace(",acc1,", ",top1,", 1))


def _not_a_number(d):
    rows = T.read_rows(d)
    rows[5]["acc1"] = "n/a"
    with open(d / "eval_table_features.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _no_imagenet(d):
    lines = (d / "eval_table_features.csv").read_text().splitlines(keepends=True)
    (d / "eval_table_features.csv").write_text("".join(x for x in lines if ",imagenet1k," not in x))


@pytest.mark.parametrize("break_it,says", [
    (_drop_file, "lacks LOVM's dataset_tasks.json"),
    (_drop_row, "lacks some (model, dataset) rows"),
    (_rename_column, "lacks the column(s) acc1"),
    (_not_a_number, "acc1='n/a'"),
    (_no_imagenet, "has no imagenet1k rows"),
], ids=["missing-file", "missing-row", "missing-column", "not-a-number", "no-imagenet1k"])
def test_malformed_tables_are_one_line_errors(cli, registry, lovm_table, break_it, says):
    """One line, no traceback, a user error (exit 2) that names the fix."""
    break_it(lovm_table)
    code, out = cli("-b", "lovm", "--lovm-dir", str(lovm_table), "--registry", str(registry), "run", "-m", "inb")
    assert code == 2 and says in out and "Traceback" not in out and "LOVM" in out
    assert len(out.strip().splitlines()) == 1, out


def test_table_benchmark_refuses_ensembles_and_label_selectors(cli, registry, lovm_table):
    # the hashing embedder: MLL must fail on the missing graph, not on a missing torch
    base = ("-q", "-b", "lovm", "--lovm-dir", str(lovm_table), "--registry", str(registry),
            "--embedder", "hashing", "run")
    code, out = cli(*base, "-m", "inb", "--k", "3")
    assert code == 2 and "--k 1" in out
    code, out = cli(*base, "-m", "mll")
    assert code == 2 and "inb, modelgpt" in out


# -- LOVM's published numbers: only with LOVM's own tables (the only tests that may skip) ----------

def test_inb_and_modelgpt_reproduce_lovm(cli, registry, published):
    for args in (["-m", "inb"], ["-m", "modelgpt"], ["-m", "modelgpt", "-p", "target=raw"]):
        run(cli, registry, published, *args)
    r5, tau, l1, regret = ({label: row["avg"] for label, row in leaderboard(cli, registry, published, m).items()}
                           for m in ("r5", "tau", "l1", "regret"))
    # INB = LOVM's ImageNet baseline: rank by imagenet1k top-1, which is also its accuracy prediction
    assert (r5["inb (k=1)"], tau["inb (k=1)"], l1["inb (k=1)"]) == ("0.4522", "0.1768", "0.2204")
    # ModelGPT, all seven shipped features, leave-one-dataset-out; centred targets rank, raw ones predict
    assert (r5["modelgpt (k=1)"], tau["modelgpt (k=1)"], l1["modelgpt (k=1)"]) == ("0.4261", "0.0464", "–")
    assert l1["modelgpt (k=1, target=raw)"] == "0.1678"
    assert regret["inb (k=1)"] == "0.0641"


@pytest.mark.parametrize("benchmark,column,published_r5", [("lovm", "acc1", "0.4522"),
                                                           ("lovm-recall", "mean_per_class_recall", "0.5043")])
def test_inb_r5_reproduces_lovm_from_the_csv_directly(cli, registry, monkeypatch, published, benchmark, column,
                                                      published_r5):
    """An independent count: for each dataset, the 5 best models vs the 5 best on ImageNet.

    LOVM's table says 0.452 (top-1) and 0.504 (mean per-class recall).
    """
    monkeypatch.setenv("MLLBENCH_LOVM_DIR", str(published))
    # the options after the command, as the issue and users write them
    code, out = cli("-q", "run", "--benchmark", benchmark, "--registry", str(registry), "--method", "inb")
    assert code == 0, out
    code, out = cli("-q", "leaderboard", "--benchmark", benchmark, "--registry", str(registry), "--metric", "r5",
                    "--format", "csv")
    assert {row["method"]: row["avg"] for row in csv.DictReader(out.splitlines())}["inb (k=1)"] == published_r5
    truth = T.by_dataset(T.read_rows(published), column)
    assert len(truth) == 23
    assert f"{T.expected('r5', T.inb_predictions(truth), truth)['avg']:.4f}" == published_r5
