"""Registers the benchmark definitions shipped in ``benchmarks/*.json``."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from mllbench.contract import hookimpl


@hookimpl
def register_benchmarks(register):
    root = Path(str(resources.files("mllbench.benchmarks")))
    for path in sorted(root.glob("*.json")):
        register(path.stem, path)
