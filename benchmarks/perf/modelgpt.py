"""ModelGPT from empty caches and from a full registry: `mllbench run --method modelgpt --tasks all`.

Each phase is a fresh `mllbench` process, as a user runs it, on a temporary
registry (``--registry``) and a temporary model cache (``XDG_CACHE_HOME``,
where the embedded hub's checkpoints are assembled):

1. assembling the hub's checkpoints (~95 MB per model; once per machine, any method);
2. `run --method inb`: labels and target predictions, which every method needs first;
3. `run --method modelgpt` after 2: what ModelGPT adds (sample-dataset predictions,
   each model's text features for all tasks);
4. the same command again, everything cached (warm).

Cold ModelGPT = 1 + 2 + 3. ``--cli`` runs another checkout's CLI (e.g. the code
before a change) for a before/after comparison in the same conditions.

    python benchmarks/perf/modelgpt.py [--cli "python /tmp/base_run.py"] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import report

ASSEMBLE = """
from mllbench.cli.main import State
from mllbench.plugins.openclip_assets import materialize_local_dir
from mllbench.plugins.openclip_provider import local_checkpoint
bench = State("embedded", None, True, {}).session.bench
for m in bench.models:
    materialize_local_dir(local_checkpoint(m["args"], bench.base_dir))
"""


def load() -> str:
    return "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_process(command: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the process and its children) of a command. On a
    shared machine CPU seconds are the steadier figure; the load average says how shared."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{shlex.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def seconds(t: tuple[float, float]) -> str:
    return f"{t[0]:7.1f} s wall, {t[1]:7.1f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", default=f"{sys.executable} -c 'from mllbench.cli.main import main; main()'",
                        help="command that runs mllbench (default: this checkout's)")
    parser.add_argument("--keep", help="folder for the registry and model cache (default: a temporary one)")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="mllbench-perf-modelgpt-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(folder / "cache")}
    cli = [*shlex.split(args.cli), "-q", "--registry", str(folder / "registry")]
    loads = [load()]
    assemble = timed_process([sys.executable, "-c", ASSEMBLE], env)
    shared = timed_process([*cli, "run", "--method", "inb", "--tasks", "all"], env)
    loads.append(load())
    cold = timed_process([*cli, "run", "--method", "modelgpt", "--tasks", "all"], env)
    loads.append(load())
    warm = min(timed_process([*cli, "run", "--method", "modelgpt", "--tasks", "all"], env) for _ in range(3))
    loads.append(load())
    total = tuple(a + b + c for a, b, c in zip(assemble, shared, cold))
    report(f"`mllbench run --method modelgpt --tasks all` ({args.cli})", [
        ("1. assemble the hub's checkpoints", seconds(assemble)),
        ("2. labels + target predictions (`run -m inb`)", seconds(shared)),
        ("3. ModelGPT's own work (after 2)", seconds(cold)),
        ("cold ModelGPT from empty caches (1 + 2 + 3)", seconds(total)),
        ("warm: the same command, all cached (best of 3)", seconds(warm)),
        ("machine load before / after 2 / after 3 / end", "; ".join(loads)),
        ("registry and model cache", str(folder)),
    ])


if __name__ == "__main__":
    main()
