"""The text side of a session: captions, caption embeddings and hub models' text embeddings,
each through its cache in the registry."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from mllbench.core.types import MllbenchError, TaskInfo

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session


class TextServices:
    """Owns the captioner and embedder plugins (made on first use), one reader per text cache file
    (captions, caption embeddings, each hub model's text tower) and the captions read so far. A
    text its cache holds costs no model; a missing one is computed canonically
    (``registry.store.canonical_compute``), so a vector is a function of its text alone."""

    def __init__(self, session: "Session"):
        self._session = session
        self._services: dict[str, Any] = {}
        self._readers: dict[str, Any] = {}
        self._captions: dict[tuple, list] = {}

    def service(self, kind: str, spec: str) -> Any:
        """A captioner or embedder by name; ``name:model`` passes ``{"model": model}`` to its factory."""
        key = f"{kind}:{spec}"
        if key not in self._services:
            name, _, model = spec.partition(":")
            factory = self._session.bench.host.get(kind, name)
            try:
                self._services[key] = factory({"model": model} if model else {})
            except TypeError as exc:
                if not model:
                    raise
                raise MllbenchError(f"{kind} {name!r} has no model option; use --{kind} {name}") from exc
        return self._services[key]

    def _reader(self, key: str, open_cache: Callable[[], Any]) -> Any:
        """One reader per cache file and session, not one per call."""
        if key not in self._readers:
            self._readers[key] = open_cache()
        return self._readers[key]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Caption embeddings through the on-disk cache (no model needed on a hit)."""
        s = self._session
        cache = self._reader(f"embeddings:{s.embedder}", lambda: s.store.embedding_cache(s.embedder))
        return cache.get(list(texts), TextEncoder(lambda: self.service("embedder", s.embedder)),
                         s._progress(f"embed texts ({s.embedder})"))

    def captions(self, task: TaskInfo, classname: str) -> list:
        """A class's captions, from the registry's caption cache when it has them.

        Missing ones are asked for a whole task at a time: a captioner with
        ``caption_many(requests)`` gets all the task's uncaptioned classes at
        once, so that e.g. ``--offline`` names every missing one.
        """
        key = (classname, task.domain, task.task_type)
        if key not in self._captions:
            s = self._session
            name = s.captioner.partition(":")[0]
            plugin = s.bench.host.origins.get(("captioner", name), "?")
            version = next((p.version for p in s.bench.host.plugins if p.name == plugin), "?")
            cache = self._reader(f"captions:{s.captioner}", lambda: s.store.caption_cache(s.captioner, version))
            wanted = list(dict.fromkeys([key, *((c, task.domain, task.task_type) for c in task.classnames)]))
            self._captions.update(zip(wanted, cache.get(wanted, self._caption_missing)))
        return self._captions[key]

    def _caption_missing(self, requests: list[tuple[str, str, str]]) -> list[list[str]]:
        captioner = self.service("captioner", self._session.captioner)
        many = getattr(captioner, "caption_many", None)
        return [list(c) for c in many(requests)] if many else [list(captioner(*r)) for r in requests]

    def encode_text(self, model_id: str, texts: Sequence[str]) -> np.ndarray:
        """A hub model's text embeddings, cached per model in the registry; a vector does not depend
        on the cache's history or on ``--batch-size``. The model stays loaded afterwards."""
        s = self._session
        cache = self._reader(f"text:{model_id}", lambda: s.store.text_cache(model_id, s.models.fingerprint(model_id)))
        return cache.get(list(texts), TextEncoder(lambda: s.model(model_id).encode_texts),
                         s._progress(f"encode texts with {model_id}"))


class TextEncoder:
    """The text cache's compute: ``make()``'s encoder, made (a model or embedder loaded) only
    when a text is missing, with the encoder's canonical batching
    (``registry.store.canonical_compute``)."""

    def __init__(self, make: Callable[[], Callable]):
        self._make, self._encode = make, None

    def _encoder(self) -> Callable:
        if self._encode is None:
            self._encode = self._make()
        return self._encode

    @property
    def batch_invariant(self) -> bool:
        return bool(getattr(self._encoder(), "batch_invariant", False))

    @property
    def text_batching(self) -> str | None:
        return getattr(self._encoder(), "text_batching", None)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder()(texts)
