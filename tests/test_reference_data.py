"""Published reference data: LOVM's results table, the MLL authors' captions, open_clip's table.

The files are read from ../shared/reference (or the MLLBENCH_* variables);
the pinned downloads are exercised against a real HTTP server on 127.0.0.1
serving the repositories' layout. Without the reference copies these skip.
"""
from __future__ import annotations

import csv
import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
LOVM_DIR = Path(os.environ.get("MLLBENCH_LOVM_DIR") or REFERENCE / "lovm")
MLL_DIR = REFERENCE / "mll"
OPENCLIP_CSV = REFERENCE / "openclip" / "openclip_results.csv"
needs = functools.partial(pytest.mark.skipif, reason="no reference copy")
needs_lovm = needs(not (LOVM_DIR / "eval_table_features.csv").is_file())
needs_mll = needs(not (MLL_DIR / "datasets.json").is_file())
needs_openclip = needs(not OPENCLIP_CSV.is_file())
ONE_HIT = 1 / (5 * 23)  # one more or one fewer top-5 hit on one of LOVM's 23 datasets


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Each test gets its own download cache and no reference paths unless it sets them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for var in ("MLLBENCH_LOVM_DIR", "MLLBENCH_MLL_DIR", "MLLBENCH_OPENCLIP_TABLE", "MLLBENCH_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def serve(tmp_path):
    """A static HTTP server on 127.0.0.1 over a folder; yields (folder, base URL, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    log: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, fmt, *args):
            log.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()
    server.server_close()


def lay_out(root: Path, commit: str, files: dict[str, Path]) -> None:
    """Copy reference files to where the repository at ``commit`` keeps them."""
    for remote, source in files.items():
        target = root / commit / remote
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)


def lovm(cli, registry, benchmark, *args):
    code, out = cli("-q", "-b", benchmark, "--registry", str(registry), *args)
    assert code == 0, out
    return out


def csv_rows(out: str) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in csv.reader(out.splitlines()) if row}


@needs_lovm
@pytest.mark.parametrize("benchmark,target", [("lovm", "acc1"), ("lovm-recall", "mean_per_class_recall")])
def test_modelgpt_subsets_reproduce_lovm_table(cli, registry, tmp_path, monkeypatch, benchmark, target):
    from mllbench.lovm import PUBLISHED

    monkeypatch.setenv("MLLBENCH_LOVM_DIR", str(LOVM_DIR))
    out = lovm(cli, registry, benchmark, "experiment", "subsets", "--format", "csv", "--out", str(tmp_path))
    rows = csv_rows(out)
    paper = PUBLISHED[target]
    # the ImageNet baseline: exactly the published R5, tau, L1
    assert tuple(float(v) for v in rows["INB"][:3]) == paper["INB"]
    # ModelGPT's row (all score groups, best subset): within one top-5 hit on one dataset
    assert abs(float(rows["INB+G+C"][0]) - paper["INB+G+C"][0]) <= ONE_HIT + 0.001  # both rounded to 3 digits
    assert abs(float(rows["INB+G+C"][2]) - paper["INB+G+C"][2]) <= 0.005
    # a best subset is at least as good as every row whose groups it contains
    assert float(rows["INB+G+C"][0]) >= max(float(rows[r][0]) for r in ("INB", "C", "G", "G+C", "INB+C", "INB+G"))
    assert (tmp_path / "modelgpt-subsets.csv").read_text().startswith("scores,R5,tau,L1")


@needs_lovm
def test_modelgpt_feature_subsets_as_a_parameter(cli, registry, monkeypatch):
    monkeypatch.setenv("MLLBENCH_LOVM_DIR", str(LOVM_DIR))
    lovm(cli, registry, "lovm", "run", "-m", "modelgpt", "-p", "features=INB,G")
    lovm(cli, registry, "lovm", "run", "-m", "modelgpt", "-p", "features=inter_close,imagenet_score")
    rows = csv_rows(lovm(cli, registry, "lovm", "leaderboard", "--metric", "r5", "--format", "csv"))
    # the subset LOVM's protocol picks for INB+G (see the subsets test) fitted as an ordinary run
    assert rows["modelgpt (k=1, features=inter_close,imagenet_score)"][-1] == "0.4609"
    assert rows["modelgpt (k=1, features=INB,G)"][-1] != rows["modelgpt (k=1, features=inter_close,imagenet_score)"][-1]
    code, out = cli("-b", "lovm", "--registry", str(registry), "run", "-m", "modelgpt", "-p", "features=X")
    assert code == 2 and "unknown ModelGPT feature 'X'" in out and "Traceback" not in out


@needs_lovm
def test_lovm_tables_fetched_once_at_the_pinned_commit(cli, registry, serve, monkeypatch):
    from mllbench.lovm import SOURCE_COMMIT, SOURCE_FILES

    root, url, log = serve
    lay_out(root, SOURCE_COMMIT, {remote: LOVM_DIR / local for local, remote in SOURCE_FILES.items()})
    monkeypatch.setenv("MLLBENCH_LOVM_URL", url)
    lovm(cli, registry, "lovm", "run", "-m", "inb")
    assert sorted(log) == sorted(f"/{SOURCE_COMMIT}/{r}" for r in SOURCE_FILES.values())
    lovm(cli, registry, "lovm", "--offline", "run", "-m", "inb")  # from the cache, nothing requested
    assert len(log) == len(SOURCE_FILES)
    monkeypatch.setenv("XDG_CACHE_HOME", str(registry / "empty-cache"))
    code, out = cli("-b", "lovm", "--offline", "--registry", str(registry), "run", "-m", "inb")
    assert code == 2 and "--lovm-dir" in out and "not cached" in out and "Traceback" not in out


@needs_mll
def test_official_captions_keyed_by_the_prompt(monkeypatch):
    from mllbench.plugins.captioners import OfficialCaptioner

    monkeypatch.setenv("MLLBENCH_MLL_DIR", str(MLL_DIR))
    captioner = OfficialCaptioner()
    released = json.loads((MLL_DIR / "captions" / "CIFAR100.json").read_text())["aquarium_fish"]
    got = captioner("aquarium fish", "natrual photograph", "image classification")
    assert len(got) == len(released) and released[0].endswith(got[0]) and not got[0][0].isdigit()
    # the authors' split failed for "tiger": one released item holding the whole numbered list
    assert len(json.loads((MLL_DIR / "captions" / "CIFAR100.json").read_text())["tiger"]) == 1
    assert len(captioner("tiger", "natrual photograph", "image classification")) == 10
    # "rose" is a class of CIFAR100 and of Flowers102: the domain decides
    flowers = json.loads((MLL_DIR / "captions" / "Flowers102.json").read_text())["rose"]
    assert captioner("rose", "flower picture", "image classification")[0] in flowers[0]
    with pytest.raises(Exception, match="2 tasks"):
        captioner("rose", "some domain", "some task")
    # a class the release lacks (an ImageNet sample class) gets template captions
    assert "freshwater" in captioner("tench", "natural photograph", "image classification")[0]


@needs_mll
def test_official_captions_fetched_at_the_pinned_commit(serve, monkeypatch):
    from mllbench.plugins.captioners import MLL_COMMIT, MLL_FILES, OfficialCaptioner

    root, url, log = serve
    lay_out(root, MLL_COMMIT, {remote: MLL_DIR / local for local, remote in MLL_FILES.items()})
    monkeypatch.setenv("MLLBENCH_MLL_URL", url)
    first = OfficialCaptioner()("sunflower", "flower picture", "image classification")
    assert len(log) == len(MLL_FILES)
    monkeypatch.setenv("MLLBENCH_OFFLINE", "1")
    assert OfficialCaptioner()("sunflower", "flower picture", "image classification") == first
    assert len(log) == len(MLL_FILES)


@needs_openclip
def test_openclip_table_as_reference_truth(cli, registry, tmp_path, monkeypatch):
    """R5 and regret against open_clip's published table, recomputed here from the CSV."""
    monkeypatch.setenv("MLLBENCH_OPENCLIP_TABLE", str(OPENCLIP_CSV))
    table = list(csv.DictReader(open(OPENCLIP_CSV)))
    hub = [(r["name"], r["pretrained"]) for r in table[:8]]
    columns = {"cifar100": "CIFAR-100", "mnist": "MNIST", "fer2013": None}
    bench = {"name": "refcheck", "description": "", "samples": [],
             "models": [{"id": f"{m}/{p}", "args": {"model": m, "pretrained": p}} for m, p in hub],
             "targets": [{"name": t, "source": "imagefolder", "root": ".", "classnames": ["a", "b"],
                          **({"reference": {"openclip": c}} if c else {})} for t, c in columns.items()]}
    path = tmp_path / "refcheck.json"
    path.write_text(json.dumps(bench))
    rng = np.random.default_rng(0)
    scores = {t: rng.random(len(hub)) for t in columns}
    from mllbench.pipeline import write_json

    from mllbench.registry.store import Store

    write_json(Store(registry).results_dir("refcheck") / "x" / "r.json", {
        "benchmark": "refcheck", "method": "x", "params": {"k": 1}, "hub": [b["id"] for b in bench["models"]],
        "tasks": {t: {"accuracy": 0.5, "model_scores": s.tolist()} for t, s in scores.items()},
        "created": "2026-01-01T00:00:00+00:00"})
    code, out = cli("-q", "-b", str(path), "--registry", str(registry), "leaderboard", "--truth", "openclip",
                    "--metric", "regret", "--format", "csv")
    assert code == 0, out
    header, row = list(csv.reader(out.splitlines()))[:2]
    assert header[2:] == ["cifar100", "mnist", "avg"]  # fer2013 has no published column
    for task, cell in zip(("cifar100", "mnist"), row[2:4]):
        acc = np.array([float(next(r for r in table if (r["name"], r["pretrained"]) == h)[columns[task]])
                        for h in hub])
        assert float(cell) == pytest.approx(acc.max() - acc[np.argmax(scores[task])], abs=1e-4)
    code, out = cli("-b", str(path), "--registry", str(registry), "leaderboard", "--truth", "openclip")
    assert code == 2 and "--metric r5" in out
