"""Labeling many models in one pass over the images (pipeline/passes.py): labels bit-identical to
one model at a time, each image decoded once per transform, a kill mid-pass resumed per model.

Real parts: tiny open_clip models saved as local-dir checkpoints (harness.make_tiny_models), two
sharing a transform and one with another normalisation, on the tiny benchmark's image folders.
"""
import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from harness import make_tiny_models, tiny_session

from mllbench.cli.base import State
from mllbench.host.benchmark import load_benchmark
from mllbench.host.plugins import get_host
from mllbench.pipeline.evaluate import UnreadableImage
from mllbench.pipeline.local import LocalExecutor
from mllbench.registry.store import Store

pytestmark = pytest.mark.slow

SHARED, OTHER = ("tiny0", "tiny1"), "other"
BAD_REF_INDEX = 5  # a graph image the source cannot decode (an OSError, as PIL raises for a bad file)


@pytest.fixture(scope="module")
def mixed_json(tiny_bench_dir, tmp_path_factory) -> Path:
    """The tiny benchmark's data with three models: tiny0 and tiny1 (one transform), other (another)."""
    root = tmp_path_factory.mktemp("onepass")
    models = make_tiny_models(root, 2)
    shutil.copytree(root / "tiny1", root / OTHER)
    config = json.loads((root / OTHER / "open_clip_config.json").read_text())
    config["preprocess_cfg"] = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    (root / OTHER / "open_clip_config.json").write_text(json.dumps(config))
    models.append({**models[1], "id": OTHER, "args": {"model": f"local-dir:{OTHER}"}})
    tiny = json.loads((tiny_bench_dir / "tiny.json").read_text())
    for entry in tiny["samples"] + tiny["targets"]:
        entry["root"] = str(tiny_bench_dir / entry["root"])
    path = root / "mixed.json"
    path.write_text(json.dumps({**tiny, "name": "mixed", "models": models}))
    return path


class Decodes:
    """The session's real ``open_image``, counted (with no decode workers: in this process), and
    made to fail: an OSError for one image, or a kill (RuntimeError) after ``kill_after`` images."""

    def __init__(self, session, kill_after: int | None = None):
        self.open, self.count, self.kill_after = session.semantics.open_image, 0, kill_after
        self.bad = session.graph().image_refs[BAD_REF_INDEX]
        session.semantics.open_image = self

    def __call__(self, ref: str):
        if self.kill_after is not None and self.count >= self.kill_after:
            raise RuntimeError("killed mid-pass")
        self.count += 1
        if ref == self.bad:
            raise OSError("truncated file")
        return self.open(ref)


def labelled(mixed_json, registry: Path, models_per_pass: int, workers: int, kill_after: int | None = None):
    session = tiny_session(mixed_json, registry,
                           executor=LocalExecutor(models_per_pass=models_per_pass, decode_workers=workers))
    decodes = Decodes(session, kill_after)
    # listed when its batch commits (a kill before then: never)
    with pytest.warns(UnreadableImage, match="truncated file") if kill_after is None else warnings.catch_warnings():
        session.ensure([*SHARED, OTHER], [])
    return session, decodes


def label_arrays(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {**{k: f[k][:] for k in f}, "unreadable": f.attrs["unreadable"], "fingerprint": f.attrs["fingerprint"]}


def assert_same_labels(a: Path, b: Path) -> None:
    for model in (*SHARED, OTHER):
        x, y = label_arrays(Store(a).label_path(model)), label_arrays(Store(b).label_path(model))
        assert x.keys() == y.keys() and {"image_emb", "caption_emb", "rival_blocks", "top_nodes"} <= x.keys()
        for key in x:
            assert np.array_equal(x[key], y[key]), (model, key)


@pytest.fixture(scope="module")
def one_at_a_time(mixed_json, tmp_path_factory):
    registry = tmp_path_factory.mktemp("single")
    session, decodes = labelled(mixed_json, registry, models_per_pass=1, workers=0)
    return registry, decodes.count, len(session.graph().image_refs)


def test_the_benchmark_hints_which_models_share_a_transform_without_loading_them(mixed_json):
    bench = load_benchmark(get_host(), str(mixed_json))
    hints = {m: bench.model_preprocess_hint(m, device="cpu") for m in (*SHARED, OTHER)}
    assert hints["tiny0"] == hints["tiny1"] != hints[OTHER] is not None


def test_a_pass_with_decode_workers_labels_bit_for_bit_as_one_model_at_a_time(mixed_json, one_at_a_time, tmp_path):
    single, _, n = one_at_a_time
    labelled(mixed_json, tmp_path, models_per_pass=4, workers=1)
    assert_same_labels(single, tmp_path)
    unreadable = json.loads(label_arrays(Store(tmp_path).label_path("tiny0"))["unreadable"])
    assert list(unreadable) == [tiny_session(mixed_json, tmp_path).graph().image_refs[BAD_REF_INDEX]]


def test_each_image_is_decoded_once_per_transform(mixed_json, one_at_a_time, tmp_path):
    _, single_decodes, n = one_at_a_time
    assert single_decodes == 3 * n  # one model at a time: every image once per model
    _, decodes = labelled(mixed_json, tmp_path, models_per_pass=4, workers=0)
    assert decodes.count == 2 * n  # tiny0 and tiny1 share a decode; other has its own transform


def test_a_kill_mid_pass_resumes_each_model_from_its_own_file(mixed_json, one_at_a_time, tmp_path):
    single, _, n = one_at_a_time
    with pytest.raises(RuntimeError, match="killed mid-pass"):
        labelled(mixed_json, tmp_path, models_per_pass=4, workers=0, kill_after=6)  # in the 2nd batch of 4
    partials = {m: Store(tmp_path).label_path(m, partial=True) for m in SHARED}
    for path in partials.values():
        with h5py.File(path, "r") as f:
            assert f.attrs["n_done"] == 4  # the first batch, committed for both models
    partials["tiny1"].unlink()  # tiny1 starts over; tiny0 resumes where its file says
    _, decodes = labelled(mixed_json, tmp_path, models_per_pass=4, workers=0)
    assert decodes.count == 2 * n  # the shared pass (every image, for tiny1), then other's
    assert not any(p.exists() for p in partials.values())
    assert_same_labels(single, tmp_path)


@pytest.mark.parametrize("command", ["label", "run"])
def test_models_per_pass_and_decode_workers_are_checked(cli, tiny_json, registry, command):
    code, out = cli(command, "--help")
    assert code == 0 and "--models-per-pass" in out and "--decode-workers" in out
    code, out = cli("-b", tiny_json, "--registry", str(registry), command, "--models-per-pass", "0")
    assert code == 2 and "Error: Invalid value for '--models-per-pass'" in out and "Traceback" not in out
    code, out = cli("-b", tiny_json, "--registry", str(registry), command, "--executor", "ray",
                    "--decode-workers", "2")
    errors = [line for line in out.splitlines() if line.strip()]
    assert code == 2 and len(errors) == 1 and "--decode-workers are the local executor's" in errors[0]
    assert not registry.exists()  # refused before anything ran


def test_the_local_executor_gets_its_flags(tiny_json, registry):
    state = State(tiny_json, str(registry), True, {})
    state.use_executor("local", models_per_pass=3, decode_workers=0, ray_address=None)
    assert (state.session.executor.models_per_pass, state.session.executor.workers) == (3, 0)
