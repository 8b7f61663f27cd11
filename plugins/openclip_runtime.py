"""Importing open_clip on any torch build: the one place that knows the CPU torch + CUDA
torchvision shim. The provider, the tower assets, the public datasets and the embedders import it
from here (not from each other), so the open_clip plugins form no import cycle."""
from __future__ import annotations

import os
import sys

from mllbench.contract import MllbenchError


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
