"""Model provider for open_clip models: hub tags, checkpoint files, local-dir.

Hub entry args: ``{"model": "ViT-B-32", "pretrained": "openai"}`` (a hub
tag), ``{"model": "ViT-B-32", "pretrained": "/path/ckpt.pt"}`` or
``{"model": "local-dir:relative/or/absolute/dir"}`` (the hub repo layout:
``open_clip_config.json`` + ``open_clip_model.safetensors``). Optional:
``device`` (default cuda when available), ``precision`` ("fp32"; "amp":
autocast; "fp16": open_clip's half weights under autocast to half, as its conversion leaves
fp32 parts in CoCa and the Hugging Face text towers; GPU only),
``batch_size``, ``text_tower`` (a committed compact checkpoint whose frozen
text tower is assembled from a package, see ``openclip_assets``).

torch and open_clip are imported only when a model is loaded or located, so
the core (scoring from a registry) runs without them. ``load_open_clip.locate``
answers ``run --dry-run`` from the Hugging Face cache alone.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mllbench.contract import ArtifactStatus, canonical_rows, hookimpl, MllbenchError, TEXT_BATCHING
from mllbench.plugins.openclip_identity import fingerprint_open_clip, local_checkpoint, preprocess_hint
from mllbench.plugins.openclip_runtime import import_open_clip  # noqa: F401 - also imported from here


class OpenClipModel:
    """A loaded open_clip model with numpy in, normalised numpy out."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, device: str,
                 precision: str = "fp32", batch_size: int = 64):
        from open_clip.model import get_input_dtype

        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.device, self.precision, self.batch_size = device, precision, batch_size
        self.input_dtype = get_input_dtype(precision)  # half weights need half images
        self.pad_id = maskable_pad_id(model, tokenizer)

    def _run(self, fn, batch):
        import torch

        if batch.is_floating_point() and self.input_dtype is not None:
            batch = batch.to(dtype=self.input_dtype)
        with torch.inference_mode(), self._autocast():
            out = fn(batch.to(self.device, non_blocking=True))  # from pinned memory: overlaps the copy
            return torch.nn.functional.normalize(out.float(), dim=-1).cpu().numpy()

    def _autocast(self):
        """amp: autocast to its default dtype over fp32 weights. fp16: autocast to half as well,
        over open_clip's half weights, because that conversion is incomplete for whole families
        (CoCa's attentional pooler and text embeddings, the Hugging Face text towers' embeddings
        and norms stay fp32, and a matmul of those with half activations fails); autocast casts
        each op's inputs to one dtype, so every Table 6 family runs."""
        import torch

        device = self.device.split(":")[0]
        if self.precision == "fp16":
            return torch.autocast(device, dtype=torch.float16)
        return torch.autocast(device, enabled=self.precision == "amp")

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        import torch

        if not images:
            return np.zeros((0, 0), np.float32)
        return self.encode_pixels(torch.stack([self.prepare_image(im) for im in images]))

    # shared preprocessing (mllbench.contract.SharedPreprocessing): labeling decodes once per transform
    @property
    def preprocess_key(self) -> str | None:
        """The transform's settings (open_clip builds ``preprocess`` from them alone, with
        ``image_transform_v2``); None for a model without them (an older open_clip)."""
        cfg = dict(getattr(self.model.visual, "preprocess_cfg", None) or {})
        size = cfg.get("size")
        if isinstance(size, (list, tuple)) and len(size) == 2 and size[0] == size[1] \
                and cfg.get("resize_mode", "shortest") in ("shortest", "squash"):
            cfg["size"] = size[0]  # a ResNet's 224 and a ViT's (224, 224): one transform (open_clip's image_transform)
        return f"open_clip:{json.dumps(cfg, sort_keys=True, default=str)}" if cfg else None

    def prepare_image(self, image: Any) -> Any:
        return self.preprocess(image.convert("RGB"))

    def encode_pixels(self, pixels: Any) -> np.ndarray:
        """Forward passes of ``batch_size`` rows each (as ``encode_images`` batches them)."""
        chunks = [self._run(self.model.encode_image, pixels[i:i + self.batch_size])
                  for i in range(0, len(pixels), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised text embeddings, each a function of its text alone (``mllbench.maths.textbatch``:
        batches of one token length and one shape; ``--batch-size`` does not apply to texts)."""
        tokens = self.tokenizer(list(texts))
        if self.pad_id is None:  # open_clip's own tower: every text is padded to the context length
            return canonical_rows([tokens.shape[1]] * len(texts),
                                  lambda rows: self._run(self.model.encode_text, tokens[rows]))
        lengths = (tokens != self.pad_id).sum(1).tolist()  # a masked tower: drop the padding
        return canonical_rows(lengths, lambda rows: self._run(self._hf_text, tokens[rows, :lengths[rows[0]]]))

    encode_texts.text_batching = TEXT_BATCHING  # canonical_compute may pass it many texts per call

    def _hf_text(self, tokens):
        """A Hugging Face tower's forward (``HFTextEncoder.forward``, the same ops) on unpadded
        texts, its pooled outputs remembered per tower: hub models that share a frozen tower
        (the embedded hub's nine all freeze all-MiniLM-L6-v2, as LiT-style training does) run
        it once per text, not once per model. Exact: in a canonical batch a pooled output is
        a function of the tower's weights, the tokens and the precision alone."""
        import torch

        tower = self.model.text
        tower_key = self.tower_key()
        keys = [(tower_key, row.cpu().numpy().tobytes()) for row in tokens]
        pooled = [_POOLED.get(key) for key in keys]
        if any(p is None for p in pooled):
            mask = (tokens != tower.config.pad_token_id).long()
            out = tower.pooler(tower.transformer(input_ids=tokens, attention_mask=mask), mask)
            for key, row in zip(keys, out):
                _POOLED.remember(key, row)
            return tower.proj(out)
        return tower.proj(torch.stack(pooled).to(tokens.device))

    def tower_key(self) -> tuple:
        """What a text's pooled output depends on besides its tokens: a hash of the tower's
        weights and pooler, the device and the precision (computed once per loaded model)."""
        if getattr(self, "_tower_key", None) is None:
            import hashlib

            tower = self.model.text
            digest = hashlib.blake2b(type(tower.pooler).__name__.encode(), digest_size=16)
            for name, tensor in tower.transformer.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch_uint8()).numpy().tobytes())
            self._tower_key = (digest.hexdigest(), self.device, self.precision)
        return self._tower_key


def torch_uint8():
    import torch

    return torch.uint8


class _PooledMemo:
    """Pooled text-tower outputs of texts, for one tower at a time (a model with another
    tower starts afresh), so memory stays that of one tower's texts."""

    def __init__(self):
        self.tower: Any = None
        self.rows: dict[bytes, Any] = {}

    def get(self, key: tuple) -> Any:
        return self.rows.get(key[1]) if key[0] == self.tower else None

    def remember(self, key: tuple, pooled: Any) -> None:
        if key[0] != self.tower:
            self.tower, self.rows = key[0], {}
        self.rows[key[1]] = pooled.detach().cpu().clone()  # not a view that keeps its batch alive


_POOLED = _PooledMemo()


def maskable_pad_id(model: Any, tokenizer: Any) -> int | None:
    """The padding id of a Hugging Face text tower, which masks it (attention mask = ids != pad;
    open_clip's poolers are mask-aware or read position 0), so trailing padding can be dropped
    without changing the result beyond float rounding. None for open_clip's own text transformer:
    depending on its config it pools the last position or attends to padding."""
    try:
        from open_clip.hf_model import HFTextEncoder
    except ImportError:
        return None
    text = getattr(model, "text", None)
    pad = getattr(getattr(text, "config", None), "pad_token_id", None)
    if not isinstance(text, HFTextEncoder) or pad is None:
        return None
    return pad if getattr(getattr(tokenizer, "tokenizer", None), "pad_token_id", pad) == pad else None


PRECISIONS = ("fp32", "amp", "fp16")
BYTES_PER_GB = 1e9


@dataclass(frozen=True)
class HubFile:
    """One file a hub tag needs: any of ``candidates`` in a Hugging Face repo, or a URL download."""

    repo: str  # "org/name" on the Hugging Face hub, or "" for a URL download (candidates: its path)
    candidates: tuple[str, ...]  # file names, any one suffices (open_clip prefers the first)
    what: str  # "weights", "text tower config", "tokenizer"
    fetch: str  # the shell command that downloads it

    def cached_path(self) -> str | None:
        """The file in the local cache, or None; never touches the network."""
        if not self.repo:
            return self.candidates[0] if Path(self.candidates[0]).is_file() else None
        from huggingface_hub import try_to_load_from_cache

        for name in self.candidates:
            found = try_to_load_from_cache(self.repo, name)
            if isinstance(found, str):
                return found
        return None


def hub_files(model: str, pretrained: str) -> list[HubFile]:
    """Every file loading ``model`` with hub tag ``pretrained`` reads: the weights, and for
    Hugging Face text towers (roberta, xlm-roberta, nllb) that model's config and tokenizer.

    Mirrors open_clip's ``download_pretrained``: the ``hf_hub`` entry wins over ``url``;
    ``org/name/`` means open_clip's default file names, safetensors first.
    """
    open_clip = import_open_clip()
    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        raise MllbenchError(f"open_clip has no pretrained tag {pretrained!r} for {model!r}; "
                            "see open_clip.list_pretrained()")
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    if hub:
        repo, filename = os.path.split(hub)
        stem, ext = os.path.splitext(filename)
        names = ((f"{stem}.safetensors", filename) if ext in (".bin", ".pth") else (filename,)) if filename \
            else ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
        files = [HubFile(repo, names, "weights", " || ".join(f"hf download {repo} {n}" for n in names))]
    else:  # open_clip's URL download cache (it passes no cache_dir)
        path = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        files = [HubFile("", (path,), "weights", f"curl -L --create-dirs -o {path} {url}")]
    text = (open_clip.get_model_config(model) or {}).get("text_cfg", {})
    for key, what, probe in (("hf_model_name", "text tower config", "config.json"),
                             ("hf_tokenizer_name", "tokenizer", "tokenizer.json")):
        if text.get(key):
            files.append(HubFile(text[key], (probe,), what,
                                 f"hf download {text[key]} --include '*.json' --include '*.txt' --include '*.model'"))
    return files


def fetch_commands(files: Sequence[HubFile]) -> str:
    return "; ".join(dict.fromkeys(f.fetch for f in files))


@lru_cache(maxsize=None)
def hub_reachable(endpoint: str) -> bool:
    """One HEAD request, no retries: does the hub (or the mirror HF_ENDPOINT names) answer?"""
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=5).close()
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:  # URLError, timeouts, DNS failures
        return False
    return True


def check_hub_cache(model: str, pretrained: str) -> None:
    """Fail in milliseconds, naming the fix, when a hub tag's files are neither cached nor
    downloadable (offline, or the hub unreachable), instead of huggingface_hub's retries:
    ~46 s per model, measured with no network."""
    missing = [f for f in hub_files(model, pretrained) if f.cached_path() is None]
    if not missing:
        return
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        why = "HF_HUB_OFFLINE=1"
    else:
        from huggingface_hub import constants

        if not any(f.repo for f in missing) or hub_reachable(constants.ENDPOINT):
            return  # open_clip downloads them
        why = f"{constants.ENDPOINT} is unreachable"
    raise MllbenchError(f"{', '.join(f.what for f in missing)} for {model}/{pretrained} not cached and {why}: "
                        f"run once online (or `{fetch_commands(missing)}`)")


def locate_open_clip(args: dict, base_dir: Path) -> ArtifactStatus:
    """Whether a hub entry's files are on disk (``run --dry-run``); loads and downloads nothing.

    The size is that of the cached files; for files not yet downloaded it is unknown here
    (``size_gb`` None) and the benchmark definition's estimate applies.
    """
    name, pretrained = args["model"], args.get("pretrained")
    label = f"{name}/{pretrained}" if pretrained else name
    path = local_checkpoint(args, base_dir)
    if path is not None:
        return ArtifactStatus(label, "model", path.exists(), str(path), "" if path.exists() else f"{path} is missing")
    if not pretrained:  # random init: nothing to fetch
        return ArtifactStatus(label, "model", True, "(no pretrained weights)")
    files = hub_files(name, pretrained)
    found = [f.cached_path() for f in files]
    missing = [f for f, p in zip(files, found) if p is None]
    size = sum(os.path.getsize(p) for p in found if p) / BYTES_PER_GB if not missing else None
    where = found[0] or (files[0].repo or files[0].candidates[0])
    return ArtifactStatus(label, "model", not missing, where, fetch_commands(missing), size)


def load_open_clip(args: dict, base_dir: Path) -> OpenClipModel:
    """The provider factory: hub entry args -> loaded model."""
    open_clip = import_open_clip()
    import torch

    name = args["model"]
    pretrained = args.get("pretrained")
    path = local_checkpoint(args, base_dir)
    if name.startswith("local-dir:"):
        if args.get("text_tower"):
            from mllbench.plugins.openclip_assets import materialize_local_dir

            path = materialize_local_dir(path)
        if not (path / "open_clip_config.json").exists():
            raise MllbenchError(f"{path} is not an open_clip local-dir checkpoint (no open_clip_config.json)")
        name = f"local-dir:{path}"
    elif path is not None:
        pretrained = str(path)
    elif pretrained:
        check_hub_cache(name, pretrained)
    device = args.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    precision = args.get("precision") or "fp32"
    if precision not in PRECISIONS:
        raise MllbenchError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and not device.startswith("cuda"):
        raise MllbenchError(f"precision fp16 needs a CUDA device (got {device}); use --precision amp or fp32")
    weights = "fp16" if precision == "fp16" else "fp32"  # amp keeps fp32 weights and autocasts
    # random init of a hub architecture (the rehearsal): set up as the tag would be, without
    # fetching a Hugging Face text tower's base weights that a tag's checkpoint would replace
    extra = {"pretrained_text": False} if not pretrained and path is None else {}
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device,
                                                                     precision=weights, **extra)
    except RuntimeError as exc:
        raise MllbenchError(f"cannot load open_clip model {name} / {pretrained}: {exc}") from exc
    model.eval()
    return OpenClipModel(model, preprocess, open_clip.get_tokenizer(name), device, precision,
                         int(args.get("batch_size", 64)))


load_open_clip.locate = locate_open_clip
load_open_clip.fingerprint = fingerprint_open_clip
load_open_clip.preprocess_key = preprocess_hint


@hookimpl
def register_model_providers(register):
    register("open_clip", load_open_clip)
