"""The GPT captioner and OpenAI embedder: the real ``openai`` client over real HTTP.

A small OpenAI-compatible server (stdlib ``http.server``) runs on 127.0.0.1;
it records every request and can be scripted to fail first (429, 503,
malformed bodies). Its embeddings are ``hashing_embed`` of the inputs, so the
values the client decodes can be checked exactly.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openai")

from mllbench.plugins.embedders import hashing_embed  # noqa: E402
from mllbench.plugins.openai_text import GPTCaptioner, OpenAIEmbedder, split_captions  # noqa: E402
from mllbench.registry.store import Store  # noqa: E402
from mllbench.core.types import MllbenchError  # noqa: E402

CAT_PROMPT = ("Generate long detailed caption for the natural picture of cat in the image classification.\n"
              "e.g., “The natural picture of cat, which is ...”.\n"
              "Generate long caption for cat within 50 words.")
EMBED_DIM = 64


def chat_reply(prompt: str) -> str:
    """What the server answers: a preamble and a numbered list naming the prompt's first line."""
    line = prompt.splitlines()[0]
    return f"Here are three captions:\n\n1. One: {line}\n\n2. Two: {line}\n3) Three: {line}"


class FakeOpenAI(ThreadingHTTPServer):
    """POST /v1/chat/completions and /v1/embeddings, as OpenAI's API answers them."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict] = []
        self.script: list[tuple[int, str, str] | float] = []  # served first: (status, body, type) or a delay
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def count(self, endpoint: str) -> int:
        return sum(r["path"].endswith(endpoint) for r in self.requests)

    def answer(self, path: str, body: dict) -> tuple[int, str, str]:
        if path.endswith("/chat/completions"):
            content = chat_reply(body["messages"][-1]["content"])
            return 200, json.dumps({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}), "application/json"
        if path.endswith("/embeddings"):
            texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
            vectors = hashing_embed(texts, dim=EMBED_DIM)
            if body.get("encoding_format") == "base64":
                values = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
            else:
                values = [v.tolist() for v in vectors]
            data = [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(values)][::-1]
            return 200, json.dumps({"object": "list", "data": data, "model": body["model"],
                                    "usage": {"prompt_tokens": 1, "total_tokens": 1}}), "application/json"
        return 404, json.dumps({"error": {"message": f"no route {path}"}}), "application/json"


class Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.server.lock:
            self.server.requests.append({"path": self.path, "body": body,
                                         "auth": self.headers.get("Authorization")})
            scripted = self.server.script.pop(0) if self.server.script else None
        if isinstance(scripted, float):  # answer late (the client times out first)
            time.sleep(scripted)
            scripted = None
        status, text, content_type = scripted or self.server.answer(self.path, body)
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def error(status: int, message: str) -> tuple[int, str, str]:
    return status, json.dumps({"error": {"message": message, "type": "error", "code": None}}), "application/json"


@pytest.fixture
def server():
    srv = FakeOpenAI()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def api(server, tmp_path, monkeypatch) -> dict:
    """The environment a user sets: key, endpoint; caches under tmp_path."""
    key = f"sk-test-{uuid.uuid4().hex}"
    env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": server.url, "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "MLLBENCH_OFFLINE": "0"}  # setenv (not delenv), so a CLI's --offline is undone afterwards
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MLLBENCH_CAPTION_CACHE", raising=False)
    return {**env, "key": key, "cache": tmp_path / "cache" / "mllbench" / "captions"}


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_split_captions_handles_lists_paragraphs_and_single_captions():
    assert split_captions("Here you go:\n1. A red apple.\n2. A green\n   apple.\n\n3) A sliced apple.") == \
        ["A red apple.", "A green apple.", "A sliced apple."]
    assert split_captions("- first\n- second") == ["first", "second"]
    assert split_captions("One caption of a cat from 1990. It is 2. years old.") == \
        ["One caption of a cat from 1990. It is 2. years old."]
    assert split_captions("“The photo of a cat.”\n\nThe photo of a second cat.\n\n  ") == \
        ["The photo of a cat.", "The photo of a second cat."]
    assert split_captions(" \n\n ") == []


def test_captions_use_the_papers_prompt_and_model(api, server):
    captions = GPTCaptioner()("cat", "natural picture", "image classification")
    assert server.count("/chat/completions") == 1
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "gpt-4"
    assert request["body"]["messages"] == [{"role": "user", "content": CAT_PROMPT}]
    assert request["auth"] == f"Bearer {api['key']}"
    line = CAT_PROMPT.splitlines()[0]
    assert captions == [f"One: {line}", f"Two: {line}", f"Three: {line}"]  # preamble and markers dropped
    GPTCaptioner(model="gpt-3.5-turbo")("cat", "natural picture", "image classification")
    assert server.requests[-1]["body"]["model"] == "gpt-3.5-turbo"  # another model: another request


def test_captions_are_cached_across_instances_and_processes(api, server):
    first = GPTCaptioner()("dog", "pet picture", "image classification")
    assert server.count("/chat/completions") == 1
    assert GPTCaptioner()("dog", "pet picture", "image classification") == first
    code = ("import json; from mllbench.plugins.openai_text import GPTCaptioner; "
            "print(json.dumps(GPTCaptioner()('dog', 'pet picture', 'image classification')))")
    env = {**os.environ, "OPENAI_API_KEY": "", "MLLBENCH_OFFLINE": "1"}  # no key, offline: the cache alone
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=api["cache"].parent)  # not the checkout, whose mllbench/ has no plugins
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == first
    assert server.count("/chat/completions") == 1
    cached = files_under(api["cache"])
    assert len(cached) == 1 and json.loads(cached[0].read_text())["model"] == "gpt-4"


def test_many_classes_are_asked_in_parallel_and_returned_in_order(api, server):
    names = [f"class {i}" for i in range(7)]
    captions = GPTCaptioner(workers=3).caption_many([(n, "emoji", "image classification") for n in names])
    assert server.count("/chat/completions") == 7
    assert [c[0] for c in captions] == [f"One: Generate long detailed caption for the emoji of {n} in the "
                                        "image classification." for n in names]


def test_rate_limit_and_server_errors_are_retried(api, server):
    server.script = [error(429, "Rate limit reached"), error(503, "overloaded")]
    captioner = GPTCaptioner(base_delay=0.01)
    assert len(captioner("fox", "natural picture", "image classification")) == 3
    assert server.count("/chat/completions") == 3 and captioner.api.requests == 3
    server.script = [error(429, "Rate limit reached")] * 2
    with pytest.raises(MllbenchError, match=r"gave up after 2 tries \(RateLimitError"):
        GPTCaptioner(base_delay=0.01, max_tries=2)("owl", "natural picture", "image classification")
    assert len(files_under(api["cache"])) == 1  # only fox


def test_timeouts_are_retried(api, server):
    server.script = [0.5]
    embedder = OpenAIEmbedder(base_delay=0.01, timeout=0.2)
    np.testing.assert_array_equal(embedder(["a cat"]), hashing_embed(["a cat"], dim=EMBED_DIM))
    # the late reply always times out; a retry on a loaded machine may too, and is retried in turn
    assert server.count("/embeddings") == embedder.api.requests >= 2


@pytest.mark.parametrize("reply", [
    (200, json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4", "choices": []}),
     "application/json"),
    (200, json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "  "}}]}),
     "application/json"),
    (200, "<html>502 Bad Gateway</html>", "application/json"),
    (200, "<html>502 Bad Gateway</html>", "text/html"),
], ids=["no-choices", "empty-content", "not-json", "html"])
def test_a_malformed_reply_is_one_line_and_nothing_is_cached(api, server, reply):
    server.script = [reply]
    captioner = GPTCaptioner(base_delay=0.01)
    with pytest.raises(MllbenchError) as info:
        captioner("lynx", "natural picture", "image classification")
    message = str(info.value)
    assert "\n" not in message and "gpt-4" in message and "'lynx'" in message and "malformed" in message
    assert files_under(api["cache"]) == []
    assert len(captioner("lynx", "natural picture", "image classification")) == 3  # asked again
    assert server.count("/chat/completions") == 2


def test_offline_names_every_missing_caption_and_sends_nothing(api, server, monkeypatch):
    captioner = GPTCaptioner()
    captioner("ant", "insect picture", "image classification")
    monkeypatch.setenv("MLLBENCH_OFFLINE", "1")
    requests = [(c, "insect picture", "image classification") for c in ("ant", "bee", "wasp", "moth")]
    with pytest.raises(MllbenchError) as info:
        GPTCaptioner().caption_many(requests)
    message = str(info.value)
    assert "3 of 4 class captions from gpt-4 are not cached ('bee', 'wasp', 'moth'; domain 'insect picture')" in message
    assert "without --offline" in message and "\n" not in message
    assert GPTCaptioner().caption_many(requests[:1]) == [captioner("ant", "insect picture", "image classification")]
    assert server.count("/chat/completions") == 1


def test_errors_never_show_the_key(api, server):
    server.script = [error(401, f"Incorrect API key provided: {api['key']}")]
    with pytest.raises(MllbenchError, match="HTTP 401") as info:
        GPTCaptioner()("cat", "natural picture", "image classification")
    assert api["key"] not in str(info.value) and "***" in str(info.value)
    assert server.count("/chat/completions") == 1  # an auth error is not retried


def test_missing_key_is_a_clear_error(api, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MllbenchError, match="set OPENAI_API_KEY"):
        GPTCaptioner()("cat", "natural picture", "image classification")
    assert server.requests == []


def test_embeddings_come_from_the_server_in_batches_and_are_cached(api, server, tmp_path, monkeypatch):
    texts = [f"caption number {i} of a cat" for i in range(5)]
    embedder = OpenAIEmbedder(batch_size=2)
    vectors = embedder(texts)
    assert vectors.shape == (5, EMBED_DIM) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, hashing_embed(texts, dim=EMBED_DIM))  # in input order
    assert server.count("/embeddings") == 3
    assert [r["body"]["input"] for r in server.requests] == [texts[:2], texts[2:4], texts[4:]]
    assert {r["body"]["model"] for r in server.requests} == {"text-embedding-3-large"}
    # Session.embed's registry cache: a rerun (a new reader of the same file) asks nothing
    store = Store(tmp_path / "registry")
    first = store.embedding_cache("openai").get(texts, OpenAIEmbedder())
    monkeypatch.setenv("MLLBENCH_OFFLINE", "1")
    again = store.embedding_cache("openai").get(texts, OpenAIEmbedder())
    np.testing.assert_array_equal(first, again)
    assert server.count("/embeddings") == 4
    with pytest.raises(MllbenchError, match=r"--offline: 1 caption embeddings from text-embedding-3-large"):
        store.embedding_cache("openai").get(["an uncached caption"], OpenAIEmbedder())


@pytest.mark.parametrize("data, found", [
    ([], "ValueError"),
    ([{"object": "embedding", "index": 0, "embedding": [0.5, 0.5]}], "1 vectors for 2 texts")])
def test_a_malformed_embedding_reply_is_an_error(api, server, data, found):
    server.script = [(200, json.dumps({"object": "list", "data": data, "model": "m",
                                       "usage": {"prompt_tokens": 0, "total_tokens": 0}}), "application/json")]
    with pytest.raises(MllbenchError, match=rf"text-embedding-3-large.*malformed reply.*{found}"):
        OpenAIEmbedder()(["a", "b"])


def test_run_with_gpt_captions_and_openai_embeddings(api, server, tiny_json, registry, cli, monkeypatch):
    """End to end through the CLI; a rerun, and an --offline rerun, send nothing."""
    base = ["-q", "-b", tiny_json, "--registry", str(registry), "--captioner", "gpt", "--embedder", "openai"]
    code, out = cli(*base, "run", "--method", "mll")
    assert code == 0, out
    n_classes = sum(len(t["classes"]) for t in json.loads(Path(tiny_json).read_text())["targets"])
    assert server.count("/chat/completions") == n_classes  # one request per target class
    sent = server.count("/embeddings")
    assert sent >= 1
    result = json.loads(Path(out.strip().splitlines()[-1].split("result written to ")[1]).read_text())
    assert result["params"]["captioner"] == "gpt" and result["params"]["embedder"] == "openai"
    for args in (base, [*base[:1], "--offline", *base[1:]]):
        code, out = cli(*args, "run", "--method", "mll")
        assert code == 0, out
    assert server.count("/chat/completions") == n_classes and server.count("/embeddings") == sent
    # every file written (caption cache, registry, results) is free of the key
    written = files_under(Path(api["XDG_CACHE_HOME"]), registry)
    assert written and not [p for p in written if api["key"].encode() in p.read_bytes()]
    # the registry keeps the captions it used: offline with GPT's reply cache emptied still runs
    for path in files_under(api["cache"]):
        path.unlink()
    code, out = cli(*base[:1], "--offline", *base[1:], "run", "--method", "mll", "--tasks", "all")
    assert code == 0, out
    # with the registry's caption cache gone too: one line naming what is missing
    for path in (registry / "captions").glob("*.json"):
        path.unlink()
    code, out = cli(*base[:1], "--offline", *base[1:], "run", "--method", "mll", "--tasks", "all")
    assert code == 2
    first = json.loads(Path(tiny_json).read_text())["targets"][0]["classes"]
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert f"{len(first)} of {len(first)} class captions from gpt-4 are not cached ({first[0]['name']!r}" in lines[0]
    assert server.count("/chat/completions") == n_classes
