"""Reading never computes: on a registry whose results came by `mllbench results import`, the
read-only commands (leaderboard, compare, report, results export, run --dry-run) load no model
and no dataset; where the ground truth needs predictions the registry lacks, they say so in one
line naming the command that computes them."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import harness
import pytest

from mllbench.host.plugins import Host, get_host
from mllbench.pipeline.truth import COMPUTES

pytestmark = pytest.mark.slow


def run_cli(*args: str) -> tuple[int, str]:
    """``harness.run_cli`` (the ``cli`` fixture) with the built-in plugins only, as conftest's autouse
    fixture gives every test: a module-scoped fixture runs before it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLLBENCH_PLUGINS", harness.builtin_plugins())
        get_host.cache_clear()
        try:
            return harness.run_cli(*args)
        finally:
            get_host.cache_clear()


@pytest.fixture(scope="module")
def registries(tiny_bench_dir, tmp_path_factory) -> tuple[list[str], Path, Path]:
    """Registry A with two real runs (mll, inb) on the tiny image benchmark; registry B with A's
    results imported and nothing else (no graph, labels or predictions)."""
    root = tmp_path_factory.mktemp("read-only")
    base = ["-q", "-b", str(tiny_bench_dir / "tiny.json"), "--embedder", "hashing"]
    source, imported, archive = root / "A", root / "B", root / "a.json.gz"
    for args in (["run", "-m", "mll"], ["run", "-m", "inb"], ["results", "export", "--out", str(archive)]):
        code, out = run_cli(*base, "--registry", str(source), *args)
        assert code == 0, out
    code, out = run_cli(*base, "--registry", str(imported), "results", "import", str(archive))
    assert code == 0 and "imported 2 result(s)" in out, out
    return base, source, imported


def block(monkeypatch: pytest.MonkeyPatch, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every factory of ``kinds`` the host hands out raises when called (its ``locate``, which
    loads nothing, still answers); returns the list the calls are recorded in."""
    calls: list[tuple[str, str]] = []
    get = Host.get

    def blocked_get(self: Host, kind: str, name: str):
        factory = get(self, kind, name)
        if kind not in kinds:
            return factory

        def blocked(*args, **kwargs):
            calls.append((kind, name))
            raise RuntimeError(f"a read-only command called the {kind} {name!r}")
        for attr in ("locate", "fingerprint"):  # answering what is on disk loads nothing
            if hasattr(factory, attr):
                setattr(blocked, attr, getattr(factory, attr))
        return blocked
    monkeypatch.setattr(Host, "get", blocked_get)
    return calls


@pytest.fixture
def loads(monkeypatch) -> list[tuple[str, str]]:
    """No model and no dataset can load: the calls that tried."""
    return block(monkeypatch, ("model provider", "dataset source"))


def rows(out: str) -> dict[str, list[str]]:
    """A csv leaderboard's first table: row label -> cells."""
    header, *body = csv.reader(io.StringIO(out.split("\n\n")[0].strip()))
    return {r[0]: r for r in body if r}


def lines_naming_the_fix(out: str) -> list[str]:
    """The output's lines that name the command computing the ground truth."""
    return [line for line in out.splitlines() if COMPUTES in line]


@pytest.mark.parametrize("command", [
    ["compare", "mll", "inb", "--format", "csv"],
    ["leaderboard", "--format", "csv", "--no-oracle"],
    ["results", "export", "--out", "{tmp}/again.json.gz"],
    ["run", "-m", "mll", "--dry-run"],
])
def test_a_read_only_command_on_an_imported_registry_loads_nothing(registries, loads, cli, tmp_path, command):
    base, source, imported = registries
    args = [a.format(tmp=tmp_path) for a in command]
    code, out = cli(*base, "--registry", str(imported), *args)
    assert loads == [] and code == 0, out
    if command[0] in ("compare", "leaderboard"):  # the same numbers as where the results were made
        assert out == cli(*base, "--registry", str(source), *args)[1]
    if command[0] == "results":
        assert "exported 2 result(s)" in out and (tmp_path / "again.json.gz").is_file()
    if command[0] == "run":  # every hub model and dataset, located without loading
        assert "nothing is downloaded or loaded" in out and all(f"tiny{i}" in out for i in range(3))


def test_the_report_of_an_imported_registry_says_which_command_computes_the_ground_truth(
        registries, loads, cli, tmp_path):
    base, _, imported = registries
    code, out = cli(*base, "--registry", str(imported), "report", "--out", str(tmp_path / "site"))
    assert loads == [] and code == 0, out
    text = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert f"No ground truth: the registry lacks 6 of the 6 model × task predictions the ground truth needs; " \
           f"{COMPUTES}." in text


@pytest.mark.parametrize("options", [["--per-model"], ["--metric", "r5"]])
def test_a_leaderboard_that_needs_the_ground_truth_names_the_command_in_one_line(registries, loads, cli, options):
    base, _, imported = registries
    code, out = cli(*base, "--registry", str(imported), "leaderboard", "--format", "csv", *options)
    assert loads == [] and code == 2, out
    assert out.strip().splitlines() == lines_naming_the_fix(out), out
    assert "the registry lacks 6 of the 6 model × task predictions" in out


def test_a_leaderboard_without_the_predictions_shows_its_rows_and_says_why_there_is_no_oracle(
        registries, loads, cli):
    base, source, imported = registries
    code, out = cli(*base, "--registry", str(imported), "leaderboard", "--format", "csv")
    assert loads == [] and len(lines_naming_the_fix(out)) == 1, out
    assert code == 0, out
    board = out.replace(lines_naming_the_fix(out)[0] + "\n", "")
    assert set(rows(board)) == {"mll (k=1)", "inb (k=1)"}
    assert board == cli(*base, "--registry", str(source), "leaderboard", "--format", "csv", "--no-oracle")[1]


def test_a_registry_that_holds_the_predictions_shows_the_oracle_without_loading_a_model(registries, monkeypatch, cli):
    """Registry A (its runs cached every prediction): the ground truth is read, no model loaded. Its
    datasets are on disk, so their versions are checked against the predictions' (no image read)."""
    base, source, _ = registries
    calls = block(monkeypatch, ("model provider",))
    code, out = cli(*base, "--registry", str(source), "leaderboard", "--format", "csv", "--per-model")
    assert calls == [] and code == 0, out
    assert "oracle (best single model)" in rows(out)
