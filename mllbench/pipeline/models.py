"""The hub model a session holds in memory: one at a time."""
from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING

from mllbench.core.types import VisionLanguageModel

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


class Models:
    """Owns the one hub model in memory. Loads it with the session's device, precision and batch
    size, freeing the previous one first: hub models are large, and a run goes through them in turn."""

    def __init__(self, session: "Session"):
        self._session = session
        self.loaded: tuple[str, VisionLanguageModel] | None = None

    def get(self, model_id: str) -> VisionLanguageModel:
        """The model, loaded unless it is the one in memory."""
        if self.loaded and self.loaded[0] == model_id:
            return self.loaded[1]
        self.release()
        s = self._session
        options = {"device": s.device, "precision": s.precision, "batch_size": s.batch_size}
        self.loaded = (model_id, s.bench.load_model(model_id, **{k: v for k, v in options.items() if v}))
        return self.loaded[1]

    def release(self) -> None:
        """Free the model in memory (and the GPU's cache of it)."""
        if self.loaded is not None:
            self.loaded = None
            gc.collect()
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()
