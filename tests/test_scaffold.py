"""`mllbench new-plugin` (mllbench/cli/scaffold.py): generated packages install, load, run and pass their own tests.

The selector is pip-installed into a fresh venv (offline: the venv sees this
environment's packages through a .pth file, and pip builds with the setuptools
already here), where `mllbench plugins` lists it through its entry point and a
run on a LOVM-format table puts its row on the leaderboard. Every kind is
loaded through the host from the entry point its pyproject.toml declares.
"""
import ast
import csv
import importlib.metadata as md
import importlib.util
import json
import os
import site
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import lovm_tables  # tests/lovm_tables.py (conftest puts tests/ on sys.path)
from mllbench.cli.scaffold import KINDS
from mllbench.host.plugins import build_host

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


def scaffold(cli, name: str, kind: str, out: Path) -> Path:
    code, text = cli("new-plugin", name, "--kind", kind, "--out", str(out))
    assert code == 0 and f"wrote {kind} plugin {name!r} to {out}" in text, text
    return out


def make_venv(root: Path) -> Path:
    """A venv of this interpreter that sees this environment's packages (mllbench, pip, setuptools,
    pytest) through a .pth file: installing into it needs no package index. Its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "_parent_env.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in parents))
    return python


def run(command: list, env: dict, cwd: Path | None = None) -> str:
    """``command`` outside the checkout by default: ``python -c`` puts the working directory first
    on sys.path, where the source folder mllbench/ (without registry/, plugins/) would shadow the
    installed package."""
    cwd = cwd or Path(env["XDG_CACHE_HOME"]).parent
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow  # a venv and a pip install: seconds
def test_a_scaffolded_selector_installs_lists_runs_and_ranks(cli, lovm_table, tmp_path):
    pytest.importorskip("setuptools")  # the build backend; --no-build-isolation keeps pip off the index
    package = scaffold(cli, "demo-pick", "selector", tmp_path / "mllbench-demo-pick")
    python = make_venv(tmp_path / "venv")
    env = {**os.environ, "MLLBENCH_PLUGINS": os.environ["MLLBENCH_PLUGINS"] + ",demo-pick",
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(package)], env)
    mllbench = [python, "-c", "import sys; sys.argv[0] = 'mllbench'; from mllbench.cli.main import main; main()"]

    records = {r["name"]: r for r in json.loads(run([*mllbench, "plugins", "--json"], env))}
    assert records["demo-pick"] | {"hooks": None} == {
        "name": "demo-pick", "module": "mllbench_demo_pick", "distribution": "mllbench-demo-pick",
        "version": "0.1.0", "hooks": None, "registered": {"selector": ["demo-pick"]}, "error": None,
        "options": {"demo-pick": []}}  # a declared selector, with no options

    T = lovm_tables
    base = [*mllbench, "-q", "-b", "lovm", "--lovm-dir", str(lovm_table), "--registry", str(tmp_path / "registry")]
    for method in ("demo-pick", "inb"):
        run([*base, "run", "-m", method], env)
    rows = {r["method"]: r for r in csv.DictReader(run([*base, "leaderboard", "--format", "csv"], env).splitlines())}
    assert rows["demo-pick (k=1)"]["version"] == "0.1.0" and "inb (k=1)" in rows
    truth = T.by_dataset(T.read_rows(lovm_table), "acc1")  # dataset -> model -> top-1, read from the CSV
    models = sorted(truth["cifar100"])
    for dataset in truth:
        others = [d for d in truth if d != dataset]
        best = max(models, key=lambda m: np.mean([truth[d][m] for d in others]))
        assert float(rows["demo-pick (k=1)"][dataset]) == pytest.approx(truth[dataset][best], abs=5e-5)

    out = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env, cwd=package)  # its own tests
    assert "2 passed" in out, out


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_registers_through_its_declared_entry_point(cli, tmp_path, monkeypatch, kind):
    name = f"demo-{kind}"
    package = scaffold(cli, name, kind, tmp_path / name)
    module = f"mllbench_demo_{kind}"
    if tomllib is not None:
        declared = tomllib.loads((package / "pyproject.toml").read_text())["project"]["entry-points"]["mllbench"]
        assert declared == {name: module}
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delenv("MLLBENCH_PLUGINS")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host = build_host([md.EntryPoint(name, module, "mllbench")])
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)]  # today's contract, not a shim
    record = host.plugins[0]
    assert record.error is None and record.hooks == [KINDS[kind].hook]
    assert record.registered == {KINDS[kind].registry: [name]} and callable(host.get(KINDS[kind].registry, name))
    assert {p.name for p in package.iterdir()} == {"pyproject.toml", "README.md", module, "tests"}
    assert f"mllbench new-plugin {name} --kind {kind}" in (package / "README.md").read_text()


@pytest.mark.parametrize("kind", list(KINDS))
def test_generated_code_imports_only_the_plugin_contract(cli, tmp_path, kind):
    """The plugin's module imports mllbench.contract (a model provider: also open_clip as mllbench
    imports it), never mllbench's internals, which may move between versions."""
    package = scaffold(cli, f"demo-{kind}", kind, tmp_path / kind)
    tree = ast.parse((package / f"mllbench_demo_{kind}" / "__init__.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    allowed = {"mllbench.contract"} | ({"mllbench.plugins.openclip_runtime"} if kind == "model" else set())
    assert "mllbench.contract" in imported and {m for m in imported if m.startswith("mllbench")} <= allowed


@pytest.mark.parametrize("kind", ["captioner", "embedder", "dataset",  # the selector's: in the venv test above
                                  pytest.param("model", marks=pytest.mark.slow)])  # imports torch + open_clip
def test_the_generated_tests_pass(cli, tmp_path, kind):
    package = scaffold(cli, f"demo-{kind}", kind, tmp_path / f"demo-{kind}")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package,
                          capture_output=True, text=True, timeout=300)
    without_torch = kind == "model" and importlib.util.find_spec("torch") is None  # the core envs: it skips
    assert done.returncode == 0 and ("1 passed, 1 skipped" if without_torch else "2 passed") in done.stdout, \
        done.stdout + done.stderr


@pytest.mark.parametrize("args, message", [
    (["9lives", "--kind", "selector"], "plugin name '9lives' is not usable"),
    (["my.plugin", "--kind", "embedder"], "plugin name 'my.plugin' is not usable"),
    (["class", "--kind", "embedder"], "plugin name 'class' is not usable"),
    (["inb", "--kind", "selector"], "a selector named 'inb' is already installed"),
    (["hashing", "--kind", "embedder"], "an embedder named 'hashing' is already installed"),
    (["taken", "--kind", "captioner"], "already exists; pass --out with a new folder"),
])
def test_bad_names_and_existing_folders_are_one_line_errors(cli, tmp_path, args, message):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    out_dir = tmp_path / args[0]
    code, out = cli("new-plugin", *args, "--out", str(out_dir))
    assert code == 2 and out.strip().splitlines() == [out.strip()] and out.startswith("Error: ") and message in out, out
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["mine.txt", "taken"]
