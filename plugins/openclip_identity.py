"""What an open_clip hub entry's model will be, known without loading it (nor importing torch):
its checkpoint on disk, its fingerprint (how it computes: the registry refuses vectors made
otherwise) and its preprocessing hint (which models may share decoded images when labelling).
Kept apart from loading (``openclip_provider``) because a run asks these of every hub model,
a dry run and a selection included, and loads none of them."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from mllbench.plugins.openclip_runtime import import_open_clip

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def local_checkpoint(args: dict, base_dir: Path) -> Path | None:
    """The checkpoint on disk an entry names (a ``local-dir:`` folder or a ``pretrained`` file,
    relative to the benchmark file), or None for a hub tag."""
    name, pretrained = args["model"], args.get("pretrained")
    if name.startswith("local-dir:"):
        path = Path(name[len("local-dir:"):])
    elif pretrained and Path(str(pretrained)).suffix:
        path = Path(str(pretrained))
    else:
        return None
    return path if path.is_absolute() else base_dir / path


@lru_cache(maxsize=None)  # asked per model for every fingerprint; a package's version is fixed per process
def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def fingerprint_open_clip(args: dict, base_dir: Path) -> dict:
    """How an entry's model computes, without loading it (nor importing torch): the weights
    (a hub tag by name: open_clip pins its files; a checkpoint by the sha256 of its files,
    ``openclip_assets.file_digest``), precision, preprocessing, packaged text tower and the
    open_clip / torch versions. The pipeline adds the device type where a model runs."""
    from mllbench.plugins.openclip_assets import file_digest

    name, pretrained = args["model"], args.get("pretrained")
    path = local_checkpoint(args, base_dir)
    out: dict[str, Any] = {"model": name, "precision": args.get("precision") or "fp32",
                           "open_clip": _version("open_clip_torch"), "torch": _version("torch")}
    if out["precision"] == "fp16":  # half weights under autocast (OpenClipModel._autocast): not the floats
        out["autocast"] = "float16"  # of open_clip's conversion alone, so vectors made before it are remade
    if path is None:
        out["weights"] = f"hub:{pretrained}" if pretrained else "random-init"
    elif not path.exists():  # a registry copied without its checkpoints: its vectors stand (docs/registry.md)
        out["weights"] = out["preprocess"] = None  # unknown here, so not compared
    elif path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix in WEIGHT_SUFFIXES or f.name == "open_clip_config.json")
        out["weights"] = {f.name: file_digest(f) for f in files}
        config = path / "open_clip_config.json"
        out["preprocess"] = json.loads(config.read_text()).get("preprocess_cfg", {}) if config.exists() else {}
    else:
        out["weights"] = file_digest(path)
    if args.get("text_tower"):
        out["text_tower"] = f"{args['text_tower']}=={_version(args['text_tower'])}"
    return out


def preprocess_hint(args: dict, base_dir: Path) -> str | None:
    """What an entry's preprocessing will be, without loading it: the image size of its model
    config and the preprocessing settings of its ``local-dir`` config or hub tag. Only groups
    models for labeling (``mllbench.contract.pixels``); the loaded models' keys decide."""
    name, pretrained = args["model"], args.get("pretrained")
    path = local_checkpoint(args, base_dir)
    if name.startswith("local-dir:"):
        config = path / "open_clip_config.json"
        if not config.exists():
            return None
        data = json.loads(config.read_text())
        model_cfg, own = data.get("model_cfg", {}), data.get("preprocess_cfg", {})
    else:
        open_clip = import_open_clip()
        model_cfg = open_clip.get_model_config(name) or {}
        own = open_clip.get_pretrained_cfg(name, pretrained) if pretrained and path is None else {}
    keys = ("mean", "std", "interpolation", "resize_mode", "fill_color")
    size = model_cfg.get("vision_cfg", {}).get("image_size")
    return json.dumps({"size": size, **{k: own[k] for k in keys if k in own}}, sort_keys=True, default=str)
