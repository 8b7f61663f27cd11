"""Shared fixtures: a tiny benchmark built from real parts.

- images: a slice of the embedded corpus (real emoji renditions shipped in
  this repo), written out as ImageFolder trees, the real on-disk format;
- models: open_clip CLIP models with a test-sized config, saved as hub-layout
  ``local-dir:`` checkpoints and loaded through the real provider;
- WordNet: the real WordNet 3.0 nouns shipped in mllbench/data (mllbench/wordnet.py).
"""
from __future__ import annotations

import json
import os
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

# helper modules of the tests (lovm_tables.py) import by name; test files themselves are
# imported with --import-mode=importlib, which puts nothing on sys.path
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BUILTINS = "openclip,datasets,public_datasets,captioners,embedders,mll,inb,modelgpt,benchmarks"
TINY_CFG = {"embed_dim": 32,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(autouse=True)
def only_builtin_plugins(monkeypatch):
    """Keep installed third-party plugins out unless a test asks for them."""
    monkeypatch.setenv("MLLBENCH_PLUGINS", BUILTINS)
    from mllbench.host.plugins import get_host

    get_host.cache_clear()
    yield
    get_host.cache_clear()


def need_open_clip():
    """open_clip through the provider's import (with the torchvision shim), or skip."""
    pytest.importorskip("torch")
    from mllbench.plugins.openclip_provider import import_open_clip

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
    """n tiny open_clip models (different seeds) as local-dir checkpoints."""
    from mllbench.plugins.openclip_provider import import_open_clip

    open_clip = import_open_clip()
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


@pytest.fixture(scope="session")
def tiny_bench_dir(tmp_path_factory) -> Path:
    """A benchmark dir: 3 tiny models, 2 sample datasets, 2 target tasks."""
    need_open_clip()
    root = tmp_path_factory.mktemp("tinybench")
    models = make_tiny_models(root, 3)
    samples, targets = [], []
    for task in corpus_slice("samples", 2, 6, 3):
        classes = write_imagefolder(root / "samples" / task["name"], task)
        samples.append({"name": task["name"], "source": "imagefolder", "root": f"samples/{task['name']}",
                        "classes": classes, "domain": task.get("domain", "emoji"),
                        "task_type": task.get("task_type", "image classification")})
    for task in corpus_slice("targets", 2, 3, 3):
        classes = write_imagefolder(root / "targets" / task["name"], task)
        targets.append({"name": task["name"], "source": "imagefolder", "root": f"targets/{task['name']}",
                        "classes": classes, "domain": task["domain"], "task_type": task["task_type"]})
    bench = {"name": "tiny", "description": "test benchmark", "models": models, "samples": samples,
             "targets": targets, "graph": {"images_per_node": 4}, "defaults": {"embedder": "hashing"}}
    (root / "tiny.json").write_text(json.dumps(bench, indent=1))
    return root


@pytest.fixture
def tiny_json(tiny_bench_dir) -> str:
    return str(tiny_bench_dir / "tiny.json")


@pytest.fixture
def registry(tmp_path) -> Path:
    return tmp_path / "registry"


def run_cli(*args: str) -> tuple[int, str]:
    """Run the real CLI entry point in-process; return (exit code, output)."""
    import contextlib
    import io

    from mllbench.cli.main import main

    out = io.StringIO()
    code = 0
    argv = ["mllbench", *args]
    import sys

    old = sys.argv
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                main()
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        sys.argv = old
    return code, out.getvalue()


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def published():
    """LOVM's own published tables (benchmarks/reference/lovm, or the product's pinned download:
    cache, else a fetch when online), resolved before a test swaps the cache; else skip. LOVM has
    no licence to vendor them, so these are the suite's only skips on a machine with no network."""
    import lovm_tables

    directory = lovm_tables.published_tables()
    if directory is None:
        pytest.skip(lovm_tables.SKIP_REASON)
    return directory
