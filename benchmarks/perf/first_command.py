"""Wall time of the README's main job, uncached and cached (issue: nothing recomputed on a cached run).

    python benchmarks/perf/first_command.py [--runs 3] [--cache DIR] [-- extra mllbench args]

Runs ``mllbench --offline run --method mll --tasks all`` as a user would, in
a subprocess, with its own ``XDG_CACHE_HOME``: once from an empty cache (the
cold run: assembling the hub's checkpoints, the graph, labeling the 9 models,
caching their predictions, captioning and embedding) unless ``--cache``
names one already filled, then ``--runs`` times on the filled cache (the
warm run: everything read back). The naive alternative to the cache is the
cold run itself: the ratio says what the registry saves per rerun.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402


def mllbench(cache: Path, extra: list[str]) -> float:
    """Seconds for one `mllbench ... run` in a fresh process (import included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLLBENCH_", "XDG_"))}
    env.update(XDG_CACHE_HOME=str(cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    command = [str(Path(sys.executable).parent / "mllbench"), "--offline", "-q", "run", "--method", "mll", "--tasks", "all",
               *extra]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs (median reported)")
    parser.add_argument("--cache", type=Path, help="an XDG_CACHE_HOME already filled by a cold run")
    parser.add_argument("extra", nargs="*", help="more `mllbench run` arguments, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        rows = []
        if args.cache is None:
            cold = mllbench(cache, args.extra)
            rows.append(("cold (empty cache: assemble, graph, label 9 models, predict, caption, embed)",
                         f"{cold:.1f} s"))
        warm = [mllbench(cache, args.extra) for _ in range(args.runs)]
        rows.append((f"warm (cached registry), median of {args.runs}", f"{statistics.median(warm):.2f} s "
                     f"(runs: {', '.join(f'{w:.2f}' for w in warm)})"))
        if args.cache is None:
            rows.append(("cold / warm", f"{cold / statistics.median(warm):.0f}x"))
        report("mllbench --offline run --method mll --tasks all (embedded benchmark)", rows)


if __name__ == "__main__":
    main()
