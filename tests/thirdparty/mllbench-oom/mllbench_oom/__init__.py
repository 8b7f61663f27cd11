"""A third-party model provider, ``oom-test``: the built-in open_clip models, except that encoding
images raises torch's out-of-memory error (as a GPU does at too large a batch); text works.

Installed (an entry point of group ``mllbench``), it reaches a Ray worker the way any third-party
plugin does: the worker's Python finds the distribution and the host loads its entry point."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mllbench.contract import hookimpl

MESSAGE = "CUDA out of memory. Tried to allocate 2.00 GiB"


def load(args: dict, base_dir: Path) -> Any:
    import torch
    from mllbench.plugins.openclip_provider import load_open_clip

    model = load_open_clip(args, base_dir)

    def encode_images(images: list) -> Any:
        raise torch.OutOfMemoryError(MESSAGE)
    model.encode_images = encode_images
    return model


@hookimpl
def register_model_providers(register):
    register("oom-test", load)
