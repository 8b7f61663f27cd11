"""Random-weight checkpoints of real open_clip architectures, in the Hugging Face hub layout.

Each folder is what `hf download <repo>` leaves for an open_clip model --
``open_clip_config.json`` (``model_cfg`` + the real tag's ``preprocess_cfg``)
and ``open_clip_model.safetensors`` -- so the product loads it through
``local-dir:`` exactly as it loads a downloaded one: same tower code, shapes,
tokenizer and preprocessing; only the weights are random (seeded). They are
hundreds of MB each: built once into a cache folder outside the repository,
keyed by open_clip's version, the architecture, the tag and the seed.
"""
from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

LAYOUT = 1  # bump when the folder's contents change
PREPROCESS_KEYS = ("size", "mean", "std", "interpolation", "resize_mode", "fill_color")


def seed_of(model_id: str) -> int:
    """A model's seed, the same whichever subset of the hub a run uses."""
    return zlib.crc32(model_id.encode()) % 2**31


def folder_name(model_id: str, seed: int, version: str) -> str:
    arch, tag = model_id.split("/")
    return f"{arch}--{tag}--seed{seed}--open_clip-{version}--v{LAYOUT}"


def build(model_id: str, seed: int, target: Path) -> None:
    """Create the model with random weights and write the hub layout into ``target`` (atomically)."""
    import torch
    from safetensors.torch import save_file

    from mllbench.plugins.openclip_runtime import import_open_clip

    open_clip = import_open_clip()
    arch, tag = model_id.split("/")
    tag_cfg = open_clip.get_pretrained_cfg(arch, tag)
    model_cfg = dict(open_clip.get_model_config(arch))
    if tag_cfg.get("quick_gelu"):  # e.g. RN50/openai: the tag's weights were trained with QuickGELU
        model_cfg["quick_gelu"] = True
    preprocess = {k: tag_cfg[k] for k in PREPROCESS_KEYS if tag_cfg.get(k) is not None}
    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=bool(model_cfg.get("quick_gelu")))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess,
              "rehearsal": f"RANDOM WEIGHTS (seed {seed}) in the architecture of {model_id}; not its trained weights"}
    (tmp / "open_clip_config.json").write_text(json.dumps(config, indent=1))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "open_clip_model.safetensors")
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)


def ensure(model_ids: list[str], root: Path, log=print) -> dict[str, Path]:
    """model id -> its checkpoint folder, building those not cached yet (torch is imported only then)."""
    from importlib.metadata import version as installed

    version = installed("open_clip_torch")
    out = {}
    for model_id in model_ids:
        seed = seed_of(model_id)
        target = root / folder_name(model_id, seed, version)
        if not (target / "open_clip_model.safetensors").is_file():
            log(f"  building {model_id} with random weights -> {target}")
            root.mkdir(parents=True, exist_ok=True)
            build(model_id, seed, target)
        out[model_id] = target
    return out
