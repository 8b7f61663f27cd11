"""Reduced precision for every architecture family, and a local-dir checkpoint's own preprocessing.

open_clip's fp16 conversion leaves fp32 parts in CoCa (attentional pooler, text embeddings) and in
the Hugging Face text towers (embeddings, norms); the provider runs fp16 under autocast to half,
so both towers of both families encode. On CPU the provider refuses fp16 (slow; CPU half autocast
needs a recent torch), so these build the model as the provider does and wrap it the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import harness
from harness import TINY_CFG

TINY_COCA = {"embed_dim": 32,
             "vision_cfg": {**TINY_CFG["vision_cfg"], "attentional_pool": True, "attn_pooler_heads": 2,
                            "output_tokens": True},
             "text_cfg": {**TINY_CFG["text_cfg"], "embed_cls": True, "output_tokens": True},
             "multimodal_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
                                "attn_pooler_heads": 2},
             "custom_text": True}
pytestmark = pytest.mark.slow  # real models: a tiny CoCa, an embedded hub model with its MiniLM tower
IMAGES = [Image.new("RGB", (48, 40), (40 + 90 * i, 120, 200 - 60 * i)) for i in range(2)]
TEXTS = ["a photo of a cat.", "a drawing of a red flag."]


def local_dir(root: Path, model_cfg: dict, preprocess_cfg: dict | None = None) -> Path:
    """A random-init local-dir checkpoint (seeded) of ``model_cfg``."""
    open_clip = harness.need_open_clip()
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{_config(root, model_cfg, preprocess_cfg)}", load_weights=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, root / "open_clip_model.safetensors")
    return root


def _config(root: Path, model_cfg: dict, preprocess_cfg: dict | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg,
                                                            "preprocess_cfg": preprocess_cfg or {}}))
    return root


def encoded(path: Path, precision: str) -> tuple[np.ndarray, np.ndarray, object]:
    """Image and text embeddings of a local-dir model loaded as ``load_open_clip`` loads it, on CPU."""
    open_clip = harness.need_open_clip()
    from mllbench.plugins.openclip_provider import OpenClipModel

    name = f"local-dir:{path}"
    model, _, preprocess = open_clip.create_model_and_transforms(name, device="cpu", precision=precision)
    wrapped = OpenClipModel(model.eval(), preprocess, open_clip.get_tokenizer(name), "cpu", precision, 2)
    return wrapped.encode_images(IMAGES), wrapped.encode_texts(TEXTS), model


def assert_reduced_precision(path: Path) -> None:
    """fp16 runs on half weights, both towers, close to fp32 but not its floats."""
    import torch

    images32, texts32, _ = encoded(path, "fp32")
    images16, texts16, model = encoded(path, "fp16")
    assert any(p.dtype == torch.float16 for p in model.parameters())
    assert any(p.dtype == torch.float32 for p in model.parameters())  # what made the plain conversion fail
    for full, half in ((images32, images16), (texts32, texts16)):
        assert half.dtype == np.float32 and np.isfinite(half).all()
        assert np.abs(full - half).max() < 2e-2 and not np.array_equal(full, half)


def test_coca_encodes_in_fp16(tmp_path):
    assert_reduced_precision(local_dir(tmp_path / "coca", TINY_COCA))


def test_a_hugging_face_text_tower_encodes_in_fp16():
    """An embedded hub model: its text tower is the packaged MiniLM (a Hugging Face tower)."""
    pytest.importorskip("safetensors")  # the torch extra's: the core's Pythons have none
    from mllbench.plugins.openclip_assets import materialize_local_dir

    path = materialize_local_dir(harness.embedded_dir() / "hub" / "vit-t-google")
    assert "hf_model_name" in json.loads((path / "open_clip_config.json").read_text())["model_cfg"]["text_cfg"]
    assert_reduced_precision(path)


def test_fp16_is_fingerprinted_with_its_autocast():
    from mllbench.plugins.openclip_provider import fingerprint_open_clip

    half = fingerprint_open_clip({"model": "ViT-B-32", "pretrained": "openai", "precision": "fp16"}, Path("."))
    full = fingerprint_open_clip({"model": "ViT-B-32", "pretrained": "openai"}, Path("."))
    assert half["autocast"] == "float16" and "autocast" not in full


def test_a_local_dir_checkpoint_gets_its_own_preprocessing(tmp_path):
    """A rehearsal checkpoint carries its tag's preprocess_cfg (mean/std, resize mode,
    interpolation); the provider's transform applies it, as a real tag's would."""
    T = pytest.importorskip("torchvision.transforms")  # the torch extra's: the core's Pythons have none

    from mllbench.plugins.openclip_provider import load_open_clip

    cfg = {"mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6], "resize_mode": "squash", "interpolation": "bilinear"}
    path = local_dir(tmp_path / "tagged", TINY_CFG, cfg)
    model = load_open_clip({"model": f"local-dir:{path.name}", "device": "cpu"}, tmp_path)
    steps = {type(t).__name__: t for t in model.preprocess.transforms}
    assert list(steps["Normalize"].mean) == cfg["mean"] and list(steps["Normalize"].std) == cfg["std"]
    resize = steps["Resize"]
    assert tuple(resize.size) == (32, 32) and resize.interpolation == T.InterpolationMode.BILINEAR
    assert "CenterCrop" not in steps  # squash: the whole image, not its centre
    pixels = model.preprocess(IMAGES[0])
    rgb = np.asarray(IMAGES[0].resize((32, 32)), np.float32) / 255  # one colour: any resize gives it
    expected = (rgb - np.array(cfg["mean"])) / np.array(cfg["std"])
    np.testing.assert_allclose(pixels.permute(1, 2, 0).numpy(), expected, atol=1e-5)
    default = load_open_clip({"model": f"local-dir:{local_dir(tmp_path / 'plain', TINY_CFG).name}",
                              "device": "cpu"}, tmp_path)
    assert list({type(t).__name__: t for t in default.preprocess.transforms}["Normalize"].mean) != cfg["mean"]
