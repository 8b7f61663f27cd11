"""The paper's benchmark rehearsed at real sizes, offline, with RANDOM WEIGHTS.

    python benchmarks/perf/paper_rehearsal.py [--quick | --size gpu] [--device cuda] [--work DIR]

Builds (once, cached) random-weight checkpoints of real Table 6 architectures
in the hub layout and generated JPEGs in the paper's dataset formats
(benchmarks/rehearsal/), writes a definition in mll-paper's format, then runs
the product on it as a user would, in its own registry:

1. label: each model in a process of its own, through the Python API, timed
   against its image tower alone (the throughput table); then every model in one
   process as `mllbench label` runs them, one pass over the images per transform;
2. the CLI: `label` (all current), `run` (mll, inb, modelgpt; k = 1 and 3),
   `leaderboard`, `select --classes`, `predict` (a folder of images), `report`.

Every product command's output is framed by a banner saying the weights are
random. Prints the throughput table and each step's wall time, CPU time and
peak RSS, and writes them to <work>/<size>/out/summary.md. ``--quick``: 3 architectures
and a few images (a test runs it); the full run: 6 architectures; ``--size gpu``:
the 6 with ~6x the images (benchmarks/perf/gpu_check.sh).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))  # the rehearsal package (benchmarks/rehearsal)

from rehearsal import tables  # noqa: E402
from rehearsal.spec import BANNER, NAME, SIZES, Size  # noqa: E402

MAIN = "import sys; from mllbench.cli import main; sys.exit(main())"  # the `mllbench` entry point


class Log:
    """Prints and keeps everything in <out>/rehearsal.log."""

    def __init__(self, path: Path):
        self.file = path.open("w", encoding="utf-8")

    def __call__(self, text: str = "", end: str = "\n") -> None:
        print(text, end=end, flush=True)
        self.file.write(text + end)
        self.file.flush()


class LoadMeter:
    """The machine's 1-minute load average every 10 s while the rehearsal runs: its mean and
    peak say how much of the 2 cores the timings had (other work shares them)."""

    def __init__(self, every: float = 10.0):
        self.samples = [os.getloadavg()[0]]
        self._stop = threading.Event()
        threading.Thread(target=self._sample, args=(every,), daemon=True).start()

    def _sample(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> str:
        self._stop.set()
        return (f"load average {sum(self.samples) / len(self.samples):.1f} mean, {max(self.samples):.1f} peak "
                f"(1-minute, sampled every 10 s), {os.cpu_count()} CPUs")


def child_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "MLLBENCH_DATA_ROOT": str(data_dir)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCHMARKS), env.get("PYTHONPATH")]))
    return env


def run_child(cmd: list[str], env: dict, log: Log, shown: str, banner: bool = True) -> tuple[float, float, float]:
    """Run ``cmd``, its output (a product command's: ``banner``) framed by the banner;
    (wall seconds, CPU seconds, peak RSS GB) of that process."""
    log(f"$ {shown}")
    if banner:
        log(BANNER)
    start = time.perf_counter()
    # run from benchmarks/: `python -m` puts the working folder first on sys.path, and from the
    # repository's root that would import the source tree's mllbench, not the installed one
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=BENCHMARKS)
    for line in proc.stdout:
        log(line, end="")
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if banner:
        log(BANNER)
    if proc.returncode != 0:
        raise SystemExit(f"rehearsal: `{shown}` exited {proc.returncode}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024 / 1e9


def cli_steps(names: dict, data_dir: Path, out: Path) -> list[tuple[str, list[str]]]:
    """The user's commands after labeling, in order."""
    steps = [("mllbench label", ["label"])]
    steps += [(f"mllbench run -m {m} --k {k}", ["run", "--method", m, "--k", str(k), "--tasks", "all"])
              for m in ("mll", "inb", "modelgpt") for k in (1, 3)]
    classes = ", ".join(names["predict"])
    steps += [("mllbench leaderboard", ["leaderboard", "--format", "markdown", "--per-model"]),
              ("mllbench select --classes", ["select", "--classes", classes, "--k", "3"]),
              ("mllbench predict", ["predict", "--classes", classes, "--images", str(data_dir / "predict"),
                                    "--k", "3", "--out", str(out / "predictions.csv")]),
              ("mllbench report", ["report", "--out", str(out / "report")])]
    return steps


def check_device(device: str) -> None:
    """Fail in one line, before building anything, when the device cannot run (asked of a child
    process: this one never imports torch, see ``prepare``)."""
    if not device.startswith("cuda"):
        return
    probe = ("import sys, torch; ok = torch.cuda.is_available(); "
             "print('' if ok else f'torch {torch.__version__} (CUDA build: {torch.version.cuda}) sees no CUDA GPU'); "
             "sys.exit(0 if ok else 3)")
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if answer.returncode != 0:
        why = answer.stdout.strip() or (answer.stderr.strip().splitlines() or ["torch does not import"])[-1]
        raise SystemExit(f"rehearsal: --device {device} cannot run: {why}; use --device cpu")


def prepare(size: Size, args, log: Log) -> tuple[dict, list]:
    """Checkpoints, data and the definition, built in a child process (rehearsal.prepare) so
    that this one stays small: a forked child's peak RSS starts from its parent's."""
    out = args.work / f"prepare-{size.name}.json"
    run_child([sys.executable, "-m", "rehearsal.prepare", size.name, str(args.work), str(args.checkpoints), str(out)],
              child_env(args.work), log, f"prepare {size.name}: checkpoints in {args.checkpoints}, data, definition",
              banner=False)
    prepared = json.loads(out.read_text())
    counts = ", ".join(f"{k} {v}" for k, v in prepared["counts"].items())
    log(f"data: {counts} images ({prepared['bytes'] / 1e6:.0f} MB) in {prepared['data_dir']}")
    seconds = prepared["seconds"]
    return prepared, [("checkpoints (built once, cached)", seconds["checkpoints"], None, None),
                      ("data (generated once, cached)", seconds["data"], None, None)]


def label_models(size: Size, path: Path, registry: Path, data_dir: Path, args, log: Log,
                 env: dict) -> tuple[list[dict], list]:
    """Label each model in its own process (rehearsal.label_one): the throughput rows."""
    results, rows = [], []
    for model_id in size.models:
        out = registry.parent / f"throughput-{model_id.replace('/', '--')}.json"
        cmd = [sys.executable, "-m", "rehearsal.label_one", str(path), str(registry), model_id, str(out),
               "--data", str(data_dir), "--device", args.device, "--batch-size", str(args.batch_size),
               "--embedder", args.embedder] + (["--precision", args.precision] if args.precision else [])
        seconds, cpu, rss = run_child(cmd, env, log, f"label {model_id} (Python API, timed)", banner=False)
        results.append(json.loads(out.read_text()))
        r = results[-1]
        log(f"  labeled {r['n_images']} images at {r['label_ips']:.2f} img/s; image tower alone "
            f"{r['raw_ips']:.2f} img/s ({seconds:.1f} s in all)")
        rows.append((f"label {model_id}", seconds, cpu, rss))
    return results, rows


def label_in_one_pass(size: Size, path: Path, run_dir: Path, data_dir: Path, args, log: Log,
                      env: dict) -> tuple[dict, tuple]:
    """Every model labelled by one process as `mllbench label` runs (rehearsal.label_pass), in a
    registry of its own: models sharing a transform in one pass over the images."""
    out = run_dir / "one-pass.json"
    cmd = [sys.executable, "-m", "rehearsal.label_pass", str(path), str(run_dir / "registry-pass"), str(out),
           *size.models, "--data", str(data_dir), "--device", args.device, "--batch-size", str(args.batch_size),
           "--embedder", args.embedder] + (["--precision", args.precision] if args.precision else [])
    seconds, cpu, rss = run_child(cmd, env, log, "label every model at once (Python API, one pass per transform)",
                                  banner=False)
    passed = json.loads(out.read_text())
    log(f"  {len(passed['groups'])} group(s), {passed['decodes']} decodes for {len(size.models)} models x "
        f"{passed['n_images']} images")
    return passed, ("label all (one pass per transform)", seconds, cpu, rss)


def parse(argv: list[str] | None) -> argparse.Namespace:
    from mllbench.core.downloads import cache_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="full: 6 architectures (default); gpu: the same with ~6x the images")
    parser.add_argument("--quick", dest="size", action="store_const", const="quick",
                        help="--size quick: 3 architectures, a few images")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--batch-size", type=int, default=None, help="images per forward (8 on CPU, 64 on CUDA)")
    parser.add_argument("--precision", choices=("fp32", "amp", "fp16"), default=None)
    parser.add_argument("--embedder", default="minilm", help="caption embedder (hashing needs no package)")
    parser.add_argument("--work", type=Path, default=cache_root() / "rehearsal",
                        help="data, definitions, registries and outputs (default ~/.cache/mllbench/rehearsal)")
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="random-weight checkpoints, ~0.5-1 GB each (default <work>/checkpoints)")
    args = parser.parse_args(argv)
    args.batch_size = args.batch_size or (64 if args.device.startswith("cuda") else 8)
    args.work = args.work.resolve()  # children run from benchmarks/
    args.checkpoints = (args.checkpoints or args.work / "checkpoints").resolve()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    check_device(args.device)
    size = SIZES[args.size]
    run_dir = args.work / size.name
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh registry: everything below is measured
    out = run_dir / "out"
    out.mkdir(parents=True)
    log = Log(out / "rehearsal.log")
    load = LoadMeter()
    log(f"{NAME} ({size.name}): {len(size.models)} models, device {args.device}, batch {args.batch_size}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load.samples[0]:.1f}")
    log(BANNER)
    prepared, steps = prepare(size, args, log)
    path, data_dir = Path(prepared["definition"]), Path(prepared["data_dir"])
    env = child_env(data_dir)
    registry = run_dir / "registry"
    results, rows = label_models(size, path, registry, data_dir, args, log, env)
    passed, row = label_in_one_pass(size, path, run_dir, data_dir, args, log, env)
    steps += [*rows, row]
    options = ["-q", "--offline", "-b", str(path), "--registry", str(registry), "--captioner", "template",
               "--embedder", args.embedder, "--device", args.device, "--batch-size", str(args.batch_size)]
    options += ["--precision", args.precision] if args.precision else []
    for name, command in cli_steps(prepared["names"], data_dir, out):
        shown = "mllbench " + shlex.join(["-b", path.name, *command])
        steps.append((name, *run_child([sys.executable, "-c", MAIN, *options, *command], env, log, shown)))
    summary(size, args, results, passed, steps, load, out, log)


def summary(size: Size, args, results: list[dict], passed: dict, steps: list, load: LoadMeter, out: Path,
            log: Callable) -> None:
    """Print the throughput and steps tables and write them to out/summary.md."""
    text = "\n\n".join([
        BANNER,
        f"## Throughput: labeling one model at a time vs the image tower alone ({args.device}, "
        f"batch {args.batch_size})",
        tables.throughput(results),
        "## Labeling in one pass per transform (`mllbench label`)",
        tables.one_pass(results, passed),
        f"## Steps ({size.name}; {load.stop()})",
        tables.steps(steps),
        BANNER,
    ])
    log("\n" + text)
    (out / "summary.md").write_text(text + "\n")
    (out / "throughput.json").write_text(json.dumps({"one_at_a_time": results, "one_pass": passed}, indent=1))


if __name__ == "__main__":
    main()
