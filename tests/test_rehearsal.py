"""The paper rehearsal (benchmarks/perf/paper_rehearsal.py --quick) end to end: real open_clip
architectures with random weights loaded through ``local-dir:``, generated JPEGs in the three
dataset formats, every product command; its outputs exist and say the weights are random.
Nothing here asserts a speed. Its checkpoints are cached in the user's cache (built once)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import need_open_clip

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "perf" / "paper_rehearsal.py"
sys.path.insert(0, str(REPO / "benchmarks"))

from rehearsal.spec import BANNER, NAME, RANDOM, SIZES  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.rehearsal]  # tox -e py311-rehearsal


def rehearse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Path:
    need_open_clip()
    from mllbench.core.downloads import cache_root

    work = tmp_path_factory.mktemp("rehearsal")
    done = rehearse("--quick", "--work", str(work), "--checkpoints", str(cache_root() / "rehearsal" / "checkpoints"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return work / "quick"


def test_every_product_command_ran_and_is_framed_by_the_random_weights_banner(quick):
    log = (quick / "out" / "rehearsal.log").read_text().splitlines()
    starts = [i for i, line in enumerate(log) if line.startswith("$ ")]
    commands = [i for i in starts if log[i].startswith("$ mllbench ")]
    assert [log[i].split()[4] for i in commands] == ["label"] + ["run"] * 6 + ["leaderboard", "select",
                                                                              "predict", "report"]
    for i in commands:
        following = log[i + 1:next((j for j in starts if j > i), len(log))]
        assert following[0] == BANNER and BANNER in following[1:]  # closed before the next command
    assert RANDOM in BANNER


def test_outputs_exist_and_say_random_weights(quick):
    out = quick / "out"
    summary = (out / "summary.md").read_text()
    assert summary.count(BANNER) == 2
    for model in SIZES["quick"].models:
        assert f"| {model} |" in summary  # one throughput row per model
    assert RANDOM in (out / "report" / "index.html").read_text()
    rows = (out / "predictions.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3 * SIZES["quick"].predict_per_class
    definition = json.loads((quick / f"{NAME}.json").read_text())
    assert RANDOM in definition["description"]
    results = sorted(p.parent.name + "/" + p.name[:2] for p in (quick / "registry" / "results").rglob("*.json"))
    assert results == [f"{m}/k{k}" for m in ("inb", "mll", "modelgpt") for k in (1, 3)]


def test_throughput_rows_count_decodes_per_model_alone_and_per_transform_in_one_pass(quick):
    throughput = json.loads((quick / "out" / "throughput.json").read_text())
    rows, passed = throughput["one_at_a_time"], throughput["one_pass"]
    assert [r["model"] for r in rows] == list(SIZES["quick"].models)
    for r in rows:
        assert r["decodes"] == r["n_images"] > 0  # a model labelled alone decodes every graph image
        assert r["label_ips"] > 0 and r["raw_ips"] > 0
    transforms = {r["transform"] for r in rows}  # the quick three share open_clip's 224-px OpenAI transform
    assert len(transforms) == 1 and passed["groups"] == [list(SIZES["quick"].models)]
    assert passed["decodes"] == passed["n_images"] * len(transforms)  # one pass: once per transform
    assert "| RN50, ViT-B-32, coca_ViT-B-32 |" in (quick / "out" / "summary.md").read_text()


def test_checkpoints_are_the_hub_layout_with_the_tags_preprocessing(quick):
    open_clip = need_open_clip()
    definition = json.loads((quick / f"{NAME}.json").read_text())
    for model in definition["models"]:
        folder = Path(model["args"]["model"].removeprefix("local-dir:"))
        config = json.loads((folder / "open_clip_config.json").read_text())
        arch, tag = model["id"].split("/")
        tag_cfg = open_clip.get_pretrained_cfg(arch, tag)
        assert config["preprocess_cfg"]["mean"] == list(tag_cfg["mean"])
        assert config["preprocess_cfg"]["interpolation"] == tag_cfg["interpolation"]
        assert (folder / "open_clip_model.safetensors").stat().st_size > 100e6


def test_cuda_without_a_gpu_fails_at_once_in_one_line(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = rehearse("--device", "cuda", "--work", str(tmp_path))
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("rehearsal: --device cuda cannot run:")
    assert not any(tmp_path.iterdir())  # nothing built


def test_gpu_check_without_a_gpu_stops_in_one_line():
    import shutil

    if shutil.which("nvidia-smi") and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0:
        pytest.skip("this machine has a GPU")
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "perf" / "gpu_check.sh")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "gpu_check: no NVIDIA GPU here (nvidia-smi lists none); nothing was run"
