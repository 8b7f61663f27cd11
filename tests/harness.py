"""The real parts the tests build on, importable by name (conftest puts tests/ on sys.path).

- the built-in plugins, as the mllbench distribution declares them (its entry points);
- the CLI, run in-process as its console script runs it;
- a tiny image benchmark: a slice of the embedded corpus (real emoji renditions shipped in
  this repo) written out as ImageFolder trees, and open_clip CLIP models with a test-sized
  config saved as hub-layout ``local-dir:`` checkpoints, loaded through the real provider;
- a :class:`Session` on such a benchmark, as the tests that drive the pipeline directly make it.

Plain functions, not fixtures, so module- and session-scoped fixtures can use them too.
"""
from __future__ import annotations

import contextlib
import importlib.metadata as md
import io
import json
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session

TINY_CFG = {"embed_dim": 32,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
TINY_BATCH = 4  # small batches: several per model on the tiny benchmark


def builtin_entry_points() -> list[md.EntryPoint]:
    """The plugin entry points mllbench itself declares (pyproject.toml)."""
    return [p for p in md.distribution("mllbench").entry_points if p.group == "mllbench"]


def builtin_plugins() -> str:
    """The built-in plugins as ``MLLBENCH_PLUGINS`` lists them."""
    return ",".join(sorted(p.name for p in builtin_entry_points()))


def run_cli(*args: str) -> tuple[int, str]:
    """Run the real CLI entry point in-process; return (exit code, stdout and stderr together)."""
    from mllbench.cli.main import main

    out = io.StringIO()
    code = 0
    old = sys.argv
    sys.argv = ["mllbench", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                main()
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        sys.argv = old
    return code, out.getvalue()


def need_open_clip() -> Any:
    """open_clip through the provider's import (with the torchvision shim), or skip."""
    pytest.importorskip("torch")
    from mllbench.plugins.openclip_runtime import import_open_clip

    return import_open_clip()


def embedded_dir() -> Path:
    return Path(str(resources.files("mllbench.benchmarks"))) / "embedded"


def corpus_slice(split: str, n_tasks: int, n_classes: int, n_images: int) -> list[dict]:
    """The first tasks/classes/images of a split of the embedded corpus."""
    spec = json.loads((embedded_dir() / "data" / "splits.json").read_text())[split]
    out = []
    for task in spec[:n_tasks]:
        classes = [{**c, "items": c["items"][:n_images]} for c in task["classes"][:n_classes]]
        out.append({**task, "classes": classes})
    return out


def write_imagefolder(root: Path, task: dict) -> list[dict]:
    """Write a task's images as root/<class>/<i>.png; return the class entries."""
    import h5py
    from PIL import Image

    classes = []
    with h5py.File(embedded_dir() / "data" / "corpus.h5", "r") as f:
        for c in task["classes"]:
            folder = root / c["name"].replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            for j, (family, i) in enumerate(c["items"]):
                Image.fromarray(f[f"renditions/{family}/images"][int(i)]).save(folder / f"{j}.png")
            entry = {"folder": folder.name, "name": c["name"]}
            if c.get("wnid"):
                entry["wnid"] = c["wnid"]
            classes.append(entry)
    return classes


def make_tiny_models(root: Path, n: int) -> list[dict]:
    """n tiny open_clip models (different seeds) as local-dir checkpoints; their hub entries."""
    open_clip = need_open_clip()
    import torch
    from safetensors.torch import save_file

    entries = []
    for seed in range(n):
        torch.manual_seed(seed)
        model = open_clip.CLIP(**TINY_CFG)
        d = root / f"tiny{seed}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {}}))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, d / "open_clip_model.safetensors")
        entries.append({"id": f"tiny{seed}", "provider": "open_clip", "args": {"model": f"local-dir:{d.name}"},
                        "metadata": {"imagenet_acc": round(0.3 + 0.1 * seed, 2), "params_m": 1.6,
                                     "architecture": "tiny ViT"}})
    return entries


def _imagefolder_tasks(root: Path, split: str, n_tasks: int, n_classes: int) -> list[dict]:
    """A split's first tasks (3 images a class) written under root/<split>; their definition entries."""
    out = []
    for task in corpus_slice(split, n_tasks, n_classes, 3):
        classes = write_imagefolder(root / split / task["name"], task)
        out.append({"name": task["name"], "source": "imagefolder", "root": f"{split}/{task['name']}",
                    "classes": classes, "domain": task.get("domain", "emoji"),
                    "task_type": task.get("task_type", "image classification")})
    return out


def write_tiny_bench(root: Path) -> Path:
    """root/tiny.json: 3 tiny models, 2 sample datasets (6 classes), 2 target tasks (3 classes)."""
    bench = {"name": "tiny", "description": "test benchmark", "models": make_tiny_models(root, 3),
             "samples": _imagefolder_tasks(root, "samples", 2, 6),
             "targets": _imagefolder_tasks(root, "targets", 2, 3),
             "graph": {"images_per_node": 4}, "defaults": {"embedder": "hashing"}}
    path = root / "tiny.json"
    path.write_text(json.dumps(bench, indent=1))
    return path


def tiny_session(bench_json: str | Path, registry: Path, **fields: Any) -> "Session":
    """A Session on a benchmark file with the hashing embedder and small batches (``fields``: the
    Session's other settings, e.g. executor, report)."""
    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import get_host
    from mllbench.pipeline.session import Session
    from mllbench.registry.store import Store

    return Session(load_benchmark(get_host(), str(bench_json)), Store(registry),
                   **{"embedder": "hashing", "batch_size": TINY_BATCH, **fields})
