"""An optional declaration of a loaded model: its image side split into preprocessing and forward.

A model that declares it (``SharedPreprocessing``) lets labeling decode and preprocess each
image once per distinct ``preprocess_key`` and feed the tensors to every model sharing that
key (``mllbench/pipeline/passes.py``), instead of once per model: at paper scale most of 49
models share one 224-px transform. A model that does not declare it is labelled one at a
time through ``encode_images``, as before. The declaration must keep
``encode_images(images) == encode_pixels(stack([prepare_image(im) for im in images]))``
bit for bit, since either path may compute a model's label.

A provider factory may also carry ``preprocess_key(args, base_dir) -> str | None``: the key a
model will have, known without loading it, so models sharing a transform are loaded together.
It is a hint for grouping only; the loaded models' own keys decide what is shared.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SharedPreprocessing(Protocol):
    """A loaded model whose preprocessing other models may share (see the module docstring)."""

    @property
    def preprocess_key(self) -> str | None:
        """Equal for two models exactly when ``prepare_image`` gives equal tensors; None: do not share."""

    def prepare_image(self, image: Any) -> Any:
        """One decoded image (PIL) -> the tensor the model's image tower takes (CPU, picklable)."""

    def encode_pixels(self, pixels: Any) -> np.ndarray:
        """A stack of ``prepare_image`` tensors -> L2-normalised float32 embeddings, one row each."""


def preprocess_key(model: Any) -> str | None:
    """The model's key when it declares shared preprocessing, else None (labelled on its own)."""
    return model.preprocess_key if isinstance(model, SharedPreprocessing) else None
