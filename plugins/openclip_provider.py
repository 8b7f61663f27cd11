"""Model provider for open_clip models: hub tags, checkpoint files, local-dir.

Hub entry args: ``{"model": "ViT-B-32", "pretrained": "openai"}`` (a hub
tag), ``{"model": "ViT-B-32", "pretrained": "/path/ckpt.pt"}`` or
``{"model": "local-dir:relative/or/absolute/dir"}`` (the hub repo layout:
``open_clip_config.json`` + ``open_clip_model.safetensors``). Optional:
``device`` (default cuda when available), ``precision`` ("fp32", "amp"),
``batch_size``, ``text_tower`` (a committed compact checkpoint whose frozen
text tower is assembled from a package, see ``openclip_assets``).

torch and open_clip are imported only when a model is loaded, so the core
(scoring from a registry) runs without them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mllbench.hookspecs import hookimpl
from mllbench.types import MllbenchError


def import_open_clip():
    """Import open_clip, first shimming a CPU torch + CUDA torchvision pair.

    PyPI's torchvision is a CUDA build whose compiled ops fail to load beside
    the CPU torch; open_clip needs none of them, but importing torchvision
    needs the two op schemas to exist. Only defined when they are missing, so
    a machine with a matching torchvision is untouched.
    """
    try:
        import torch
    except ImportError as exc:
        raise MllbenchError("running models needs torch: pip install 'mllbench[torch]'") from exc
    try:
        torch.ops.torchvision.nms  # noqa: B018 - probe whether the ops are registered
    except (AttributeError, RuntimeError):
        try:
            import torchvision  # noqa: F401
        except (RuntimeError, ImportError):
            lib = torch.library.Library("torchvision", "DEF")
            lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            import_open_clip._lib = lib  # keep the library alive
    # transformers reports every HF text tower load (pooler weights unused by
    # open_clip) and draws a progress bar per load: noise in our own display
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import open_clip
    except ImportError as exc:
        raise MllbenchError("running models needs open_clip: pip install 'mllbench[torch]'") from exc
    transformers = sys.modules.get("transformers")
    if transformers is not None:
        transformers.utils.logging.disable_progress_bar()
    return open_clip


class OpenClipModel:
    """A loaded open_clip model with numpy in, normalised numpy out."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, device: str,
                 precision: str = "fp32", batch_size: int = 64):
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.device, self.precision, self.batch_size = device, precision, batch_size

    def _run(self, fn, batch):
        import torch

        with torch.no_grad(), torch.autocast(self.device.split(":")[0], enabled=self.precision == "amp"):
            out = fn(batch.to(self.device))
            return torch.nn.functional.normalize(out.float(), dim=-1).cpu().numpy()

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        import torch

        chunks = [self._run(self.model.encode_image,
                            torch.stack([self.preprocess(im.convert("RGB")) for im in images[i:i + self.batch_size]]))
                  for i in range(0, len(images), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        chunks = [self._run(self.model.encode_text, self.tokenizer(list(texts[i:i + self.batch_size])))
                  for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


def check_hub_cache(model: str, pretrained: str) -> None:
    """Fail in milliseconds, naming the fix, when a hub tag is not downloaded offline."""
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        return
    open_clip = import_open_clip()
    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        raise MllbenchError(f"open_clip has no pretrained tag {pretrained!r} for {model!r}; "
                            "see open_clip.list_pretrained()")
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, _, sub = hub.rstrip("/").partition("/")
        repo_id = f"{repo}/{sub.split('/')[0]}" if sub else repo
        for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(repo_id, name), str):
                return
        raise MllbenchError(f"weights for {model}/{pretrained} are not cached and HF_HUB_OFFLINE=1: "
                            f"run once online (or `huggingface-cli download {repo_id}`)")


def load_open_clip(args: dict, base_dir: Path) -> OpenClipModel:
    """The provider factory: hub entry args -> loaded model."""
    open_clip = import_open_clip()
    import torch

    name = args["model"]
    pretrained = args.get("pretrained")
    if name.startswith("local-dir:"):
        path = Path(name[len("local-dir:"):])
        path = path if path.is_absolute() else base_dir / path
        if args.get("text_tower"):
            from mllbench.plugins.openclip_assets import materialize_local_dir

            path = materialize_local_dir(path)
        if not (path / "open_clip_config.json").exists():
            raise MllbenchError(f"{path} is not an open_clip local-dir checkpoint (no open_clip_config.json)")
        name = f"local-dir:{path}"
    elif pretrained and not Path(str(pretrained)).suffix:
        check_hub_cache(name, pretrained)
    elif pretrained:
        path = Path(pretrained) if Path(pretrained).is_absolute() else base_dir / pretrained
        pretrained = str(path)
    device = args.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    except RuntimeError as exc:
        raise MllbenchError(f"cannot load open_clip model {name} / {pretrained}: {exc}") from exc
    model.eval()
    return OpenClipModel(model, preprocess, open_clip.get_tokenizer(name), device,
                         args.get("precision", "fp32"), int(args.get("batch_size", 64)))


@hookimpl
def register_model_providers(register):
    register("open_clip", load_open_clip)
