"""`mllbench results export|import` (mllbench/report/exchange.py) on results written by real runs.

The LOVM table benchmark (conftest's ``lovm``: tables from tests/lovm_tables.py) gives real
result files in seconds without torch; the tiny image benchmark (conftest, slow) gives
results with per-image predictions and a real semantic graph, for the graph-hash
rules. A registry that refuses a file must be byte-for-byte unchanged.
"""
import csv
import gzip
import json
import shutil
from pathlib import Path

import pytest

import lovm_tables  # tests/lovm_tables.py (conftest puts tests/ on sys.path)


@pytest.fixture
def exported(lovm, tmp_path):
    """Registry A with three real results (two methods, two configurations of one) and its export."""
    source = tmp_path / "A"
    for args in (["-m", "inb"], ["-m", "modelgpt"], ["-m", "modelgpt", "-p", "target=raw"]):
        code, out = lovm(source, "run", *args)
        assert code == 0, out
    code, out = lovm(source, "results", "export", "--out", str(tmp_path / "a.json.gz"))
    assert code == 0 and "exported 3 result(s)" in out, out
    return source, tmp_path / "a.json.gz"


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} \
        if root.exists() else {}


def result_files(root: Path) -> dict[str, dict]:
    """method/params -> the stored result, by its own fields."""
    out = {}
    for path in root.rglob("*.json"):
        r = json.loads(path.read_text())
        out[json.dumps([r["method"], r["params"]], sort_keys=True)] = r
    return out


def board(lovm, registry: Path, metric: str = "accuracy") -> str:
    code, out = lovm(registry, "leaderboard", "--format", "csv", "--metric", metric)
    assert code == 0, out
    return out


def rewrite(path: Path, target: Path, change) -> Path:
    data = json.loads(gzip.decompress(path.read_bytes()))
    change(data)
    target.write_bytes(gzip.compress(json.dumps(data).encode()))
    return target


def test_an_imported_registry_shows_the_same_leaderboard_and_keeps_provenance(lovm, exported, tmp_path):
    source, archive = exported
    target = tmp_path / "B"
    code, out = lovm(target, "results", "import", str(archive))
    assert code == 0 and "imported 3 result(s) from 1 file(s)" in out and "(0 already present" in out, out
    for metric in ("accuracy", "r5", "l1"):
        assert board(lovm, target, metric) == board(lovm, source, metric)
    mine, theirs = result_files(source), result_files(target)
    assert mine.keys() == theirs.keys()
    for key, r in theirs.items():
        hops = r.pop("imported")
        assert [h["file"] for h in hops] == ["a.json.gz"] and hops[0]["at"]
        assert r == mine[key]  # every field of the original, unchanged


def test_importing_again_skips_duplicates_and_writes_nothing(lovm, exported, tmp_path):
    source, archive = exported
    target = tmp_path / "B"
    assert lovm(target, "results", "import", str(archive))[0] == 0
    before = snapshot(target)
    code, out = lovm(target, "results", "import", str(archive), str(archive))
    assert code == 0 and "imported 0 result(s) from 2 file(s)" in out and "(6 already present" in out, out
    assert snapshot(target) == before
    code, out = lovm(source, "results", "import", str(archive))  # into the registry it came from
    assert code == 0 and "(3 already present" in out, out
    # a re-export of imported results keeps their first hop and is still recognised
    code, out = lovm(target, "results", "export", "--out", str(tmp_path / "b.json.gz"))
    assert code == 0, out
    code, out = lovm(source, "results", "import", str(tmp_path / "b.json.gz"))
    assert code == 0 and "(3 already present" in out, out


def test_a_rerun_of_the_same_configuration_is_a_duplicate_whenever_it_was_made(lovm, exported, tmp_path):
    """Identity is content and configuration: not the second a result was written, nor its run time."""
    source, archive = exported
    target = tmp_path / "B"
    code, out = lovm(target, "run", "-m", "inb")  # the same configuration, run here
    assert code == 0, out
    def elsewhere_and_later(d: dict) -> None:
        for r in d["results"]:
            r.update(created="2031-01-01T00:00:00+00:00", elapsed_s=1e6, environment={"machine": "elsewhere"})
            for entry in r["tasks"].values():
                entry["timing_s"] = {"select": 123.0, "reuse": 456.0}
    later = rewrite(archive, tmp_path / "later.json.gz", elsewhere_and_later)
    code, out = lovm(target, "results", "import", str(later))
    assert code == 0 and "imported 2 result(s)" in out and "(1 already present" in out, out
    rows = [row[0] for row in csv.reader(board(lovm, target).strip().splitlines()[1:])]
    assert rows == ["inb (k=1)", "modelgpt (k=1)", "modelgpt (k=1, target=raw)", "oracle (best single model)"]


def test_a_result_with_other_outcomes_is_imported_beside_the_present_ones(lovm, exported, tmp_path):
    source, archive = exported
    other = rewrite(archive, tmp_path / "other.json.gz",
                    lambda d: d["results"][0]["tasks"]["dtd"].update(accuracy=0.123))
    code, out = lovm(source, "results", "import", str(other))
    assert code == 0 and "imported 1 result(s)" in out and "(2 already present" in out, out
    assert len(list(source.rglob("*.json"))) == 4


def corrupt(kind: str, good: Path, tmp_path: Path) -> Path:
    bad = tmp_path / f"{kind}.json.gz"
    if kind == "truncated":
        bad.write_bytes(good.read_bytes()[:-40])
    elif kind == "not-gzip":
        bad.write_bytes(b"PK\x03\x04 a zip, say")
    elif kind == "benchmark-hash":
        rewrite(good, bad, lambda d: d.update(benchmark_hash="0123456789ab"))
    elif kind == "result-hash":
        rewrite(good, bad, lambda d: d["results"][1].update(benchmark_hash="0123456789ab"))
    elif kind == "traversal":
        rewrite(good, bad, lambda d: d["results"][2].update(method="../../../escaped"))
    elif kind == "version":
        rewrite(good, bad, lambda d: d.update(version=99))
    elif kind == "graph":
        rewrite(good, bad, lambda d: d.update(graph_hash="feedfacecafe"))
    elif kind == "schema":
        rewrite(good, bad, lambda d: d["results"][0].update(schema=99))
    elif kind == "accuracy":
        rewrite(good, bad, lambda d: d["results"][0]["tasks"]["dtd"].update(accuracy="0.9; rm -rf /"))
    return bad


@pytest.mark.parametrize("kind, message", [
    ("truncated", "not a readable results export"),
    ("not-gzip", "not a readable results export"),
    ("benchmark-hash", "made on another definition of benchmark 'lovm'"),
    ("result-hash", "result 2 (method 'modelgpt'): benchmark_hash"),
    ("traversal", "method is not a plain name"),
    ("version", "exchange version 99, this mllbench reads 1; upgrade mllbench"),
    ("graph", "is a table with no graph"),
    ("schema", "result schema 99"),
    ("accuracy", "task 'dtd' has no numeric accuracy"),
])
def test_a_bad_file_is_one_line_and_the_registry_is_unchanged(lovm, exported, tmp_path, kind, message):
    """With a good file beside it too: every file is validated before anything is written."""
    source, archive = exported
    target = tmp_path / "B"
    assert lovm(target, "run", "-m", "inb")[0] == 0
    before = snapshot(target)
    bad = corrupt(kind, archive, tmp_path)
    for files in ([bad], [archive, bad]):
        code, out = lovm(target, "results", "import", *map(str, files))
        lines = out.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"Error: {bad.name}: "), out
        assert message in out and "Traceback" not in out, out
        assert snapshot(target) == before
    assert not list(tmp_path.rglob("escaped*"))


def test_another_benchmark_and_a_missing_file_are_one_line_errors(lovm, exported, tmp_path):
    source, archive = exported
    code, out = lovm(tmp_path / "C", "results", "import", str(archive), benchmark="lovm-recall")
    assert code == 2 and "results of benchmark 'lovm', not 'lovm-recall'; import it with -b lovm" in out, out
    code, out = lovm(tmp_path / "C", "results", "import", str(tmp_path / "nope.json.gz"))
    assert code == 2 and out.strip() == f"Error: {tmp_path / 'nope.json.gz'}: no such file"
    assert not (tmp_path / "C").exists()


def test_export_without_results_names_the_fix(lovm, tmp_path):
    code, out = lovm(tmp_path / "empty", "results", "export", "--out", str(tmp_path / "x.json.gz"))
    assert code == 2 and "mllbench run --method" in out and not (tmp_path / "x.json.gz").exists()


@pytest.mark.slow
def test_image_results_travel_with_their_per_image_outcomes_and_graph(cli, tiny_json, tmp_path):
    """The tiny image benchmark: per-image predictions make the same intervals after import; a registry
    without a graph imports with a warning; one with another graph refuses."""
    source, fresh = tmp_path / "A", tmp_path / "B"
    base = ["-q", "-b", tiny_json, "--embedder", "hashing"]
    for method in ("inb", "mll"):
        code, out = cli(*base, "--registry", str(source), "run", "-m", method)
        assert code == 0, out
    archive = tmp_path / "tiny.json.gz"
    assert cli(*base, "--registry", str(source), "results", "export", "--out", str(archive))[0] == 0
    code, out = cli(*base, "--registry", str(fresh), "results", "import", str(archive))
    assert code == 0 and "imported 2 result(s)" in out and "no semantic graph yet" in out, out
    boards = [cli(*base, "--registry", str(r), "leaderboard", "--format", "csv", "--no-oracle")
              for r in (source, fresh)]
    assert boards[0] == boards[1] and boards[0][0] == 0
    header, *rows = boards[0][1].strip().splitlines()
    assert len(rows) == 2 and all(cell for cell in rows[0].split(","))  # intervals: per-image outcomes came along
    graph = json.loads(gzip.decompress(archive.read_bytes()))["graph_hash"]
    shutil.copy(source / "graph.h5", fresh / "graph.h5")
    other = rewrite(archive, tmp_path / "other.json.gz", lambda d: [
        x.update(graph_hash="feedfacecafe") for x in (d, *d["results"])])
    before = snapshot(fresh)
    code, out = cli(*base, "--registry", str(fresh), "results", "import", str(other))
    assert code == 2 and f"made on semantic graph feedfacecafe, this registry's is {graph}" in out, out
    assert snapshot(fresh) == before


def test_results_made_on_another_lovm_table_are_refused(lovm, cli, exported, tmp_path):
    """The same benchmark definition with one table value changed: another benchmark hash, so
    import refuses the file in one line and writes nothing."""
    import csv

    _, archive = exported
    other = lovm_tables.make_lovm_tables(tmp_path / "other")
    path = other / "eval_table_features.csv"
    rows = list(csv.DictReader(path.open()))
    rows[0]["acc1"] = str(float(rows[0]["acc1"]) + 0.01)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out = cli("-q", "-b", "lovm", "--lovm-dir", str(other), "--registry", str(tmp_path / "D"),
                    "results", "import", str(archive))
    assert code == 2 and len(out.strip().splitlines()) == 1 and "hash" in out, out
    assert not (tmp_path / "D").exists() or not list((tmp_path / "D").rglob("*.json"))
