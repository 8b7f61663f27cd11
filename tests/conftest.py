"""Shared fixtures: real parts (tests/harness.py), and each test isolated from the machine and
from the tests before it.

Isolation: only mllbench's own plugins load unless a test asks for others; every test starts
with no plugin host built and leaves the process environment as it found it (the in-process
CLI sets variables such as ``MLLBENCH_OFFLINE`` or ``MLLBENCH_LOVM_DIR`` for its process, as
the console script does); tests of reference data (``reference_env``, ``lovm_table``, ``lovm``)
get their own download cache and no location from the machine.

Speed: a test that uses the tiny image benchmark (``tiny_bench_dir``: torch, open_clip and
three real models), starts Ray or opens a browser is marked ``slow`` here, so
``pytest -m "not slow"`` is the quick run.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

# helper modules of the tests (harness.py, lovm_tables.py, report_site.py) import by name; test
# files themselves are imported with --import-mode=importlib, which puts nothing on sys.path
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import harness  # noqa: E402
import lovm_tables  # noqa: E402

BUILTINS = harness.builtin_plugins()
SLOW_FIXTURES = {"tiny_bench_dir"}
SLOW_MARKS = ("ray", "browser")
Cli = Callable[..., tuple[int, str]]


@pytest.hookimpl(tryfirst=True)  # before -m deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that builds the tiny image benchmark (seconds of torch and models),
    starts Ray or opens a browser: ``-m "not slow"`` replaces the default ``-m`` that leaves
    those two out, so the quick run must leave them out by this mark."""
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if uses & SLOW_FIXTURES or any(item.get_closest_marker(name) for name in SLOW_MARKS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def only_builtin_plugins() -> Iterator[None]:
    """Keep installed third-party plugins out unless a test asks for them; for the whole session,
    so module- and session-scoped fixtures that run the CLI load the same plugins as the tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLLBENCH_PLUGINS", BUILTINS)
        yield


@pytest.fixture(autouse=True)
def fresh_process_state() -> Iterator[None]:
    """Each test starts with no plugin host built (it reads the environment) and leaves the process
    environment as it found it."""
    from mllbench.host.plugins import get_host

    saved = dict(os.environ)
    get_host.cache_clear()
    yield
    get_host.cache_clear()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def reference_env(tmp_path, monkeypatch) -> None:
    """An own download cache, and no location of LOVM's tables or other reference data from the
    machine (a test that needs one sets it)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in lovm_tables.LOCATION_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def lovm_table(reference_env, tmp_path) -> Path:
    """A LOVM-format table set (tests/lovm_tables.py) in tmp_path/lovm."""
    return lovm_tables.make_lovm_tables(tmp_path / "lovm")


@pytest.fixture
def lovm(cli, lovm_table) -> Cli:
    """``lovm(registry, *args, benchmark="lovm")``: ``mllbench -q -b BENCHMARK --lovm-dir TABLE
    --registry REGISTRY *args`` on ``lovm_table``."""
    def run(registry: Path, *args: str, benchmark: str = "lovm") -> tuple[int, str]:
        return cli("-q", "-b", benchmark, "--lovm-dir", str(lovm_table), "--registry", str(registry), *args)
    return run


@pytest.fixture(scope="session")
def tiny_bench_dir(tmp_path_factory) -> Path:
    """A benchmark dir: 3 tiny models, 2 sample datasets, 2 target tasks (harness.write_tiny_bench)."""
    harness.need_open_clip()
    root = tmp_path_factory.mktemp("tinybench")
    harness.write_tiny_bench(root)
    return root


@pytest.fixture
def tiny_json(tiny_bench_dir) -> str:
    return str(tiny_bench_dir / "tiny.json")


@pytest.fixture
def registry(tmp_path) -> Path:
    return tmp_path / "registry"


@pytest.fixture
def cli() -> Cli:
    return harness.run_cli


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def published() -> Path:
    """LOVM's own published tables (benchmarks/reference/lovm, or the product's pinned download:
    cache, else a fetch when online), resolved before a test swaps the cache; else skip. LOVM has
    no licence to vendor them, so these are the suite's only skips on a machine with no network."""
    directory = lovm_tables.published_tables()
    if directory is None:
        pytest.skip(lovm_tables.SKIP_REASON)
    return directory
