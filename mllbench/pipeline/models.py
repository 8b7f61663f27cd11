"""The hub model a session holds in memory: one at a time, each with its own settings."""
from __future__ import annotations

import gc
import json
import sys
from typing import TYPE_CHECKING, Any, Sequence

from mllbench.core.types import VisionLanguageModel

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session

DEFAULT_BATCH_SIZE = 64


class Models:
    """Owns the one hub model in memory. Loads it with its settings (``options``: device,
    precision, batch size), freeing the previous one first: hub models are large, and a run
    goes through them in turn. ``overrides`` holds the CLI's per-model settings
    (``--model-option MODEL:precision=amp``, ``--batch-size MODEL=8``)."""

    def __init__(self, session: "Session"):
        self._session = session
        self.loaded: tuple[str, VisionLanguageModel] | None = None
        self.overrides: dict[str, dict[str, Any]] = {}
        self._fingerprints: dict[tuple[str, str], dict] = {}

    def options(self, model_id: str) -> dict[str, Any]:
        """The model's settings (``Benchmark.model_settings``: CLI per model, definition, session)."""
        s = self._session
        return s.bench.model_settings(model_id, {"device": s.device, "precision": s.precision,
                                                 "batch_size": s.batch_size}, self.overrides.get(model_id))

    def batch_size(self, model_id: str) -> int:
        """Images per batch for this model (labels and predictions alike)."""
        return int(self.options(model_id).get("batch_size") or DEFAULT_BATCH_SIZE)

    def fingerprint(self, model_id: str) -> dict:
        """How the model computes with its settings (``Benchmark.model_fingerprint``; no model loaded),
        once per session and settings."""
        options = {k: v for k, v in self.options(model_id).items() if k != "batch_size"}
        key = (model_id, json.dumps(options, sort_keys=True, default=str))
        if key not in self._fingerprints:
            self._fingerprints[key] = self._session.bench.model_fingerprint(model_id, **options)
        return self._fingerprints[key]

    def run_fingerprint(self, model_id: str, device: str | None = None) -> dict:
        """The fingerprint with the device type the model runs on (``device``, else its setting,
        else CUDA when torch sees it): what a file that rows are added to must match."""
        device = device or self.options(model_id).get("device") or default_device()
        return {**self.fingerprint(model_id), "device": str(device).split(":")[0]}

    def preprocess_hint(self, model_id: str) -> str | None:
        """Which models may share decoded images (``Benchmark.model_preprocess_hint``) with its settings."""
        return self._session.bench.model_preprocess_hint(model_id, **self.options(model_id))

    def load(self, model_id: str) -> VisionLanguageModel:
        """A model loaded for the caller to hold (a labeling pass holds several); frees the one in memory."""
        self.release()
        return self._session.bench.load_model(model_id, **self.options(model_id))

    def get(self, model_id: str) -> VisionLanguageModel:
        """The model, loaded unless it is the one in memory."""
        if not (self.loaded and self.loaded[0] == model_id):
            self.loaded = (model_id, self.load(model_id))
        return self.loaded[1]

    def out_of_memory(self, model_ids: Sequence[str]) -> str:
        """The one line these models running out of memory becomes, with their settings: one model's
        (its batch size and the flags to change), or a pass's (``passes.py``: fewer models per pass)."""
        batch = self.batch_size(model_ids[0])
        if len(model_ids) > 1:
            return pass_out_of_memory(list(model_ids), batch)
        return out_of_memory(model_ids[0], batch, self.options(model_ids[0]).get("precision"))

    def release(self) -> None:
        """Free the model in memory (and the GPU's cache of it)."""
        if self.loaded is not None:
            self.loaded = None
            collect()


def collect() -> None:
    """Free the memory of models no longer referenced (and the GPU's cache of them)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def default_device() -> str:
    """The providers' default device: CUDA when torch sees one (imported only when a model runs)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps: a Ray task error's cause) is torch running out of memory:
    ``torch.OutOfMemoryError`` or a RuntimeError saying "out of memory" (CUDA, MPS, CPU allocators)."""
    while exc is not None:
        if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
            return True
        exc = getattr(exc, "cause", None) or exc.__cause__
    return False


def error_said(exc: BaseException) -> str:
    """An error in one line, for a message that quotes it: the original exception's type and first
    line (``exc``'s, or a Ray task error's ``cause``); Ray's own errors (a dead actor) are a
    traceback under a header, so theirs is its last line, the exception."""
    cause = getattr(exc, "cause", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    if cause is exc and type(exc).__module__.startswith("ray."):
        return lines[-1] if lines else repr(exc)
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def out_of_memory(model_id: str, batch_size: int, precision: str | None) -> str:
    """The one line an out-of-memory becomes: the model, its batch size and the flags to change."""
    smaller = max(1, batch_size // 2)
    amp = "" if precision in ("amp", "fp16") else f" or --model-option {model_id}:precision=amp"
    return (f"{model_id} ran out of memory at batch size {batch_size}: rerun with --batch-size "
            f"{model_id}={smaller}{amp} (labels resume from what was committed)")


def pass_out_of_memory(model_ids: list[str], batch_size: int) -> str:
    """The one line for models labelled together (``passes.py``) running out of memory."""
    return (f"{len(model_ids)} models labelled together ({', '.join(model_ids)}) ran out of memory at batch size "
            f"{batch_size}: rerun with --models-per-pass {max(1, len(model_ids) // 2)} or a smaller --batch-size "
            "(labels resume from what was committed)")
