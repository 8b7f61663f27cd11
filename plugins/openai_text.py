"""GPT class captions and OpenAI caption embeddings, through any OpenAI-compatible API.

Section 4.2 asks GPT-4 once per task class with the prompt in ``PROMPT``;
Section 5.1 embeds node and class captions with ``text-embedding-3-large``.
The authors' code asked ``gpt-3.5-turbo`` (``--captioner gpt:gpt-3.5-turbo``)
and split each reply into captions at blank lines; its released captions are
numbered lists of about ten, so ``split_captions`` splits numbered or
bulleted lists as well and drops their markers.

Each reply is cached on disk keyed by (model, prompt), so a rerun sends no
request; embeddings are cached per text in the registry by
``Session.embed``. With ``MLLBENCH_OFFLINE=1`` (``mllbench --offline``)
nothing is requested and a miss is an error saying what is missing. The
``openai`` client reads the API key from ``OPENAI_API_KEY`` and the
endpoint from ``OPENAI_BASE_URL``; the key is never stored or printed.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from mllbench.contract import cache_root, hookimpl, MllbenchError, offline

# Section 4.2, verbatim; the paper's example fills in "natural picture", "cat" and "image classification".
PROMPT = ("Generate long detailed caption for the {domain} of {classname} in the {task_type}.\n"
          "e.g., “The {domain} of {classname}, which is ...”.\n"
          "Generate long caption for {classname} within 50 words.")
CHAT_MODEL = "gpt-4"  # Section 4.2; the authors' code used gpt-3.5-turbo
EMBEDDING_MODEL = "text-embedding-3-large"  # Section 5.1
INSTALL_HINT = "pip install 'mllbench[gpt]'"
T = TypeVar("T")


def _listed(names: Sequence[str], shown: int = 5, width: int = 50) -> str:
    """The first few of ``names``, each cut to ``width`` characters, for a one-line error."""
    cut = [n if len(n) <= width else n[:width] + "..." for n in names[:shown]]
    return ", ".join(repr(n) for n in cut) + (", ..." if len(names) > shown else "")


class OpenAIClient:
    """The ``openai`` client, made on the first request, retrying rate limits, 5xx and timeouts.

    Retries back off exponentially (``base_delay`` * 2**attempt, at most
    ``max_delay`` seconds, jittered so parallel workers do not retry in step);
    other HTTP errors (bad request, auth) fail at once.
    """

    def __init__(self, base_url: str | None = None, max_tries: int = 6, base_delay: float = 2.0,
                 max_delay: float = 60.0, timeout: float = 120.0):
        self.base_url, self.max_tries, self.timeout = base_url, max(1, int(max_tries)), timeout
        self.base_delay, self.max_delay = base_delay, max_delay
        self._client: Any = None
        self._lock = threading.Lock()
        self.requests = 0  # HTTP requests sent, retries included

    @staticmethod
    def module() -> Any:
        try:
            import openai
        except ImportError as exc:
            raise MllbenchError("the gpt captioner and openai embedder need the openai client: "
                                f"{INSTALL_HINT}") from exc
        return openai

    def client(self) -> Any:
        with self._lock:
            return self._client or self._connect()

    def _connect(self) -> Any:
        if not os.environ.get("OPENAI_API_KEY"):
            raise MllbenchError("set OPENAI_API_KEY in the environment (and OPENAI_BASE_URL for a "
                                "compatible endpoint), or run with --offline on a filled cache")
        self._client = self.module().OpenAI(base_url=self.base_url, timeout=self.timeout, max_retries=0)
        return self._client

    def call(self, what: str, request: Callable[[Any], T]) -> T:
        """``request(client)`` with retries; any failure is one MllbenchError naming ``what``."""
        openai, client = self.module(), self.client()
        transient = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
        for attempt in range(self.max_tries):
            with self._lock:
                self.requests += 1
            try:
                return request(client)
            except transient as exc:
                last = exc
                if attempt + 1 < self.max_tries:
                    time.sleep(min(self.base_delay * 2 ** attempt, self.max_delay) * random.uniform(0.5, 1.0))
            except openai.APIStatusError as exc:
                raise MllbenchError(f"{what}: HTTP {exc.status_code} from {client.base_url}: "
                                    f"{_redacted(exc.message)}") from exc
            except (openai.APIResponseValidationError, ValueError) as exc:  # ValueError: a body that is not JSON
                raise MllbenchError(f"{what}: malformed reply from {client.base_url} "
                                    f"({type(exc).__name__}: {_redacted(str(exc), 80)}); nothing cached") from exc
        raise MllbenchError(f"{what}: gave up after {self.max_tries} tries ({type(last).__name__}: "
                            f"{_redacted(str(last))}); rerun later to resume from the cache")


def _redacted(message: str, limit: int = 200) -> str:
    """A server message on one line, shortened, with the API key (if echoed) masked."""
    key = os.environ.get("OPENAI_API_KEY")
    text = " ".join(str(message).split())
    return (text.replace(key, "***") if key else text)[:limit]


# a list item at the start of a line: "1." "2)" "(3)" "-" "*" "•"
_ITEM = re.compile(r"^[ \t]*(?:\(?\d{1,3}[.)]|[-*•])[ \t]+", re.MULTILINE)


def split_captions(reply: str) -> list[str]:
    """A reply's captions: the items of a numbered or bulleted list (text before the
    first item is a preamble and dropped), else its blank-line separated paragraphs."""
    starts = list(_ITEM.finditer(reply))
    if len(starts) >= 2 or (starts and not reply[:starts[0].start()].strip()):  # a list, or one item of it
        parts = [reply[m.end():(starts[i + 1].start() if i + 1 < len(starts) else len(reply))]
                 for i, m in enumerate(starts)]
    else:
        parts = re.split(r"\n[ \t]*\n", reply)
    captions = [" ".join(p.split()).strip('"“” ') for p in parts]
    return [c for c in captions if c]


class ReplyCache:
    """Chat replies on disk, one JSON file per (model, prompt), written atomically.

    The raw reply is stored (never the key or the endpoint), so a change in
    how replies are split applies to cached replies too.
    """

    def __init__(self, root: Path, model: str):
        from mllbench.contract import slug

        self.folder, self.model = Path(root) / slug(model), model

    def path(self, prompt: str) -> Path:
        key = hashlib.sha256(json.dumps([self.model, prompt]).encode()).hexdigest()
        return self.folder / f"{key}.json"

    def get(self, prompt: str) -> str | None:
        path = self.path(prompt)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # unreadable: asked again, and overwritten
        return record["reply"] if record.get("model") == self.model and record.get("prompt") == prompt else None

    def put(self, prompt: str, reply: str) -> None:
        from mllbench.contract import write_json

        write_json(self.path(prompt), {"model": self.model, "prompt": prompt, "reply": reply,
                                       "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def default_cache_dir() -> Path:
    """``$MLLBENCH_CAPTION_CACHE``, else ``$XDG_CACHE_HOME/mllbench/captions`` (shared by all registries)."""
    if os.environ.get("MLLBENCH_CAPTION_CACHE"):
        return Path(os.environ["MLLBENCH_CAPTION_CACHE"])
    return cache_root() / "captions"


Request = tuple[str, str, str]  # (classname, domain, task_type)


class GPTCaptioner:
    """Section 4.2's captions: one chat request per class, cached by (model, prompt).

    Up to ``workers`` requests are in flight at once: the paper benchmark's
    1,026 target classes take minutes instead of an hour or more in sequence.
    """

    def __init__(self, model: str = CHAT_MODEL, prompt: str = PROMPT, cache_dir: str | Path | None = None,
                 workers: int = 8, **client_options: Any):
        self.model, self.prompt, self.workers = model, prompt, max(1, int(workers))
        self.cache = ReplyCache(Path(cache_dir) if cache_dir else default_cache_dir(), model)
        self.api = OpenAIClient(**client_options)

    def __call__(self, classname: str, domain: str, task_type: str) -> list[str]:
        return self.caption_many([(classname, domain, task_type)])[0]

    def caption_many(self, requests: Sequence[Request]) -> list[list[str]]:
        """Captions for several classes; offline, one error names every class not cached."""
        prompts = [self.prompt.format(classname=c, domain=d, task_type=t) for c, d, t in requests]
        replies = [self.cache.get(p) for p in prompts]
        todo = [i for i, reply in enumerate(replies) if reply is None]
        if todo and offline():
            raise MllbenchError(f"--offline: {len(todo)} of {len(requests)} class captions from {self.model} "
                                f"are not cached ({_listed([requests[i][0] for i in todo])}; domain "
                                f"{requests[0][1]!r}) in {self.cache.folder}; rerun without --offline "
                                "with OPENAI_API_KEY set to fill the cache")
        if todo:  # each reply is cached as it arrives; after a failure, queued requests are dropped
            pool = ThreadPoolExecutor(max_workers=min(self.workers, len(todo)))
            try:
                for i, reply in zip(todo, pool.map(lambda i: self._ask(requests[i], prompts[i]), todo)):
                    replies[i] = reply
            finally:
                pool.shutdown(cancel_futures=True)
        return [split_captions(reply) for reply in replies]

    def _ask(self, request: Request, prompt: str) -> str:
        what = f"captioner gpt ({self.model}) for class {request[0]!r}"
        response = self.api.call(what, lambda client: client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": prompt}]))
        try:
            reply = response.choices[0].message.content
        except (AttributeError, IndexError, KeyError, TypeError):
            reply = None
        if not isinstance(reply, str) or not split_captions(reply):
            raise MllbenchError(f"{what}: malformed reply (no choices or empty content); nothing cached")
        self.cache.put(prompt, reply)
        return reply


class OpenAIEmbedder:
    """Caption embeddings from an OpenAI embedding model, ``batch_size`` texts per request."""

    # the registry's cache sends all missing texts at once (registry.store.canonical_compute):
    # one request per text would multiply API calls, and a request is taken not to mix its texts
    batch_invariant = True

    def __init__(self, model: str = EMBEDDING_MODEL, batch_size: int = 256, **client_options: Any):
        self.model, self.batch_size = model, max(1, int(batch_size))
        self.api = OpenAIClient(**client_options)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if texts and offline():
            raise MllbenchError(f"--offline: {len(texts)} caption embeddings from {self.model} are not in the "
                                f"registry's cache ({_listed(texts, 2)}); rerun without --offline with "
                                "OPENAI_API_KEY set to fill it")
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            what = f"embedder openai ({self.model}), texts {start}-{start + len(batch) - 1}"
            response = self.api.call(what, lambda client, batch=batch: client.embeddings.create(
                model=self.model, input=batch))
            rows.extend(_vectors(response, len(batch), what))
        if len({len(r) for r in rows}) > 1:
            raise MllbenchError(f"embedder openai ({self.model}): the endpoint returned vectors of different sizes")
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)


def _vectors(response: Any, n: int, what: str) -> list[list[float]]:
    """The ``n`` vectors of an embeddings reply, in input order."""
    try:
        data = sorted(response.data, key=lambda d: d.index)
        vectors = [list(d.embedding) for d in data]
    except (AttributeError, TypeError):
        vectors = []
    if len(vectors) != n or not all(vectors):
        raise MllbenchError(f"{what}: malformed reply ({len(vectors)} vectors for {n} texts)")
    return vectors


@hookimpl
def register_captioners(register):
    register("gpt", lambda options: GPTCaptioner(**options))


@hookimpl
def register_embedders(register):
    register("openai", lambda options: OpenAIEmbedder(**options))
