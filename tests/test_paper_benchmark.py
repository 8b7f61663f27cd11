"""The paper's benchmark definition (`mll-paper`), its dry run and the open_clip provider's cache checks.

Nothing is downloaded: the definition is checked against the MLL authors'
release (vendored in benchmarks/reference/mll), Table 5 as printed
and real WordNet; the Hugging Face cache is a temporary folder in
huggingface_hub's own layout, filled with small real safetensors files.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from mllbench.host.benchmark import Benchmark, load_benchmark
from mllbench.pipeline.dryrun import graph_nodes
from mllbench.host.plugins import get_host
from mllbench.core.types import MllbenchError

REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "reference" / "mll"
# Table 5 as printed: dataset -> (domain, task); with each task's number of classes
TABLE5 = {
    "imagenet1k": ("natural picture", "image classification", 1000),
    "imagenetv2": ("natural picture", "image classification", 1000),
    "imagenet_sketch": ("Sketch picture", "image classification", 1000),
    "imagenet-a": ("natural picture", "image classification", 200),
    "imagenet-r": ("15 domain picture (e.g., art, cartoon)", "image classification", 200),
    "cifar100": ("natural picture", "image classification", 100),
    "country211": ("natural picture", "geo-localization", 211),
    "clevr_closest_object_distance": ("natural picture", "object distance estimation", 6),
    "dtd": ("texture picture", "image classification", 47),
    "dmlab": ("natural picture", "object distance estimation", 6),
    "flowers": ("flower picture", "image classification", 102),
    "fer2013": ("facial picture", "facial expression classification", 7),
    "food101": ("food picture", "image classification", 101),
    "gtsrb": ("traffic picture", "image classification", 43),
    "mnist": ("digit picture", "image classification", 10),
    "pets": ("pet photograph", "image classification", 37),
    "pcam": ("medical picture", "image classification", 2),
    "renderedsst2": ("text picture", "optical character recognition", 2),
    "resisc45": ("satellite picture", "land cover classification", 45),
    "cars": ("car picture", "image classification", 196),
    "stl10": ("natural picture", "image classification", 10),
    "ucf101": ("video frame", "action recognition", 101),
}
TABLE1_ORDER = ["cifar100", "country211", "clevr_closest_object_distance", "dtd", "dmlab", "flowers", "mnist", "pets",
                "pcam", "fer2013", "food101", "gtsrb", "resisc45", "renderedsst2", "cars", "stl10", "ucf101"]
SAMPLES = ["imagenet1k", "imagenetv2", "imagenet_sketch", "imagenet-a", "imagenet-r"]


def open_clip_or_skip():
    pytest.importorskip("torch")
    from mllbench.plugins.openclip_provider import import_open_clip

    return import_open_clip()


@pytest.fixture
def bench() -> Benchmark:
    return load_benchmark(get_host(), "mll-paper")


def released(stem: str) -> list[str]:
    return [x.strip() for x in (REFERENCE / "classnames" / f"{stem}.txt").read_text().splitlines() if x.strip()]


def test_the_hub_is_table6(bench):
    assert len(bench.models) == 49 == len({m["id"] for m in bench.models})
    for m in bench.models:
        assert m["provider"] == "open_clip" and m["id"] == f"{m['args']['model']}/{m['args']['pretrained']}"
        assert {"params_m", "flops_b", "imagenet_acc", "download_gb"} <= set(m["metadata"])
    assert bench.model_entry("EVA02-E-14/laion2b_s4b_b115k")["metadata"]["params_m"] == 4704.59
    with open(REFERENCE / "model_hub_info.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    pairs = json.loads((REFERENCE / "pretrained.json").read_text())
    assert [m["id"] for m in bench.models] == [f"{a}/{t}" for a, t in pairs]
    by_id = {f"{r['name']}/{r['pretrained']}": r for r in rows}
    for m in bench.models:
        row, meta = by_id[m["id"]], m["metadata"]
        assert (meta["params_m"], meta["flops_b"], meta["imagenet_acc"]) == \
            (float(row["params (M)"]), float(row["FLOPs (B)"]), float(row["ImageNet"]))


def test_every_hub_entry_is_a_real_open_clip_tag(bench):
    open_clip = open_clip_or_skip()
    for m in bench.models:
        assert open_clip.get_pretrained_cfg(m["args"]["model"], m["args"]["pretrained"]), m["id"]


def test_datasets_are_table5_with_classes_in_label_order(bench):
    assert [t["name"] for t in bench.targets] == TABLE1_ORDER
    assert set(TABLE1_ORDER) == set(TABLE5) - set(SAMPLES)
    assert [s["name"] for s in bench.samples] == SAMPLES
    sources = set(get_host().registries["dataset source"])
    for entry in bench.targets + bench.samples:
        domain, task, n_classes = TABLE5[entry["name"]]
        info = bench.task_info(entry["name"])
        assert (info.domain, info.task_type, len(info.classnames)) == (domain, task, n_classes), entry["name"]
        assert info.templates == ("a photo of {}.",) and entry["source"] in sources
        assert entry["n_test"] > 0 and entry["size_gb"] > 0
    gtsrb = bench.task_info("gtsrb").classnames  # GTSRB's ClassId order, not the release's alphabetical one
    assert (gtsrb[0], gtsrb[7], gtsrb[14], gtsrb[42]) == ("20kph Speed limit", "100kph Speed limit", "Stop",
                                                          "End of no passing by vehicles over 3.5 tons")
    assert bench.task_info("flowers").classnames[:2] == ("pink primrose", "hard-leaved pocket orchid")
    assert bench.task_info("dmlab").classnames[0] == "nearby apple/melon"


def test_class_names_are_the_authors_release(bench):
    stems = {"cifar100": "CIFAR100", "country211": "Country211", "dtd": "DTD", "flowers": "Flowers102",
             "mnist": "MNIST", "pets": "OxfordIIITPet", "pcam": "PCAM", "fer2013": "FER2013", "food101": "Food101",
             "gtsrb": "GTSRB", "resisc45": "resisc45", "renderedsst2": "RenderedSST2", "cars": "StanfordCars",
             "stl10": "STL10", "ucf101": "UCF101"}
    for name, stem in stems.items():
        names = bench.task_info(name).classnames
        assert sorted(names) == sorted(released(stem)), name
    assert bench.task_info("cars").classnames == tuple(released("StanfordCars"))  # already in label order
    code = json.loads((REFERENCE / "datasets.json").read_text())["target_dataset"]
    for name in ("dmlab", "clevr_closest_object_distance"):  # clip_benchmark's names; the release's kept aside
        entry = bench.task_entry(name)
        assert entry["mll_code"]["classnames"] == released(name)
        assert entry["mll_code"]["domain"] == code[name]["domain"]


def test_sample_wnids_are_wordnet_synsets_aligned_with_the_names(bench):
    from mllbench.semantic import wordnet

    for entry in bench.samples:
        assert len(entry["wnids"]) == len(entry["classnames"]) and len(set(entry["wnids"])) == len(entry["wnids"])
    imagenet = dict(zip(bench.task_entry("imagenet1k")["wnids"], bench.task_entry("imagenet1k")["classnames"]))
    assert imagenet["n01440764"] == "tench" and imagenet["n02099601"] == "Golden Retriever"
    for name in ("imagenet-a", "imagenet-r", "imagenetv2"):
        entry = bench.task_entry(name)
        assert all(imagenet[w] == c for w, c in zip(entry["wnids"], entry["classnames"]))
    assert wordnet.wordnet().lemmas("n02099601")[0] == "golden_retriever"


def test_graph_node_count_is_the_hypernym_closure(tmp_path):
    from mllbench.semantic import wordnet

    wnids = ["n02099601", "n02123045", "n02099601", ""]  # golden retriever, tabby cat (twice), no synset
    definition = {"name": "g", "models": [], "targets": [], "samples": [
        {"name": "a", "source": "imagefolder", "classnames": ["golden retriever", "tabby", "x", "y"],
         "wnids": wnids[:2] + ["", ""]},
        {"name": "b", "source": "imagefolder", "classnames": ["golden retriever", "none"], "wnids": wnids[2:]}]}
    (tmp_path / "g.json").write_text(json.dumps(definition))
    bench = load_benchmark(get_host(), str(tmp_path / "g.json"))
    expected, todo = set(), ["n02099601", "n02123045"]
    while todo:  # the hypernym / instance-hypernym closure, walked here independently of graph.py
        w = todo.pop()
        if w not in expected:
            expected.add(w)
            todo += wordnet.wordnet().hypernyms(w)
    assert graph_nodes(bench) == (len(expected), 2)
    assert "n00001740" in expected and wordnet.wordnet().name("n00001740") == "entity"


def test_models_and_tasks_describe_the_paper_benchmark_without_data(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MLLBENCH_DATA_ROOT", str(tmp_path / "no-data"))
    code, out = cli("-b", "mll-paper", "--registry", str(tmp_path / "r"), "models")
    assert code == 0, out
    assert "(49 models)" in out and "ViT-H-14-378-quickgelu/dfn5b" in out and "0.8437" in out
    assert "4704.59" in out and "2311.42" in out  # EVA02-E-14's params and FLOPs
    code, out = cli("-b", "mll-paper", "--registry", str(tmp_path / "r"), "tasks")
    assert code == 0, out
    for text in ("CLEVR-D", "object distance estimation", "geo-localization", "15 domain picture", "1000:",
                 "sample", "target", "ImageNet-Sketch", "50889"):
        assert text in out, text
    assert not (tmp_path / "no-data").exists()


def fake_hub_file(hf_home: Path, repo: str, name: str, data: bytes | None = None) -> Path:
    """A file in huggingface_hub's cache layout: models--org--name/snapshots/<rev>/<name> + refs/main."""
    folder = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    rev = "0" * 40
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(rev)
    path = folder / "snapshots" / rev / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:  # a real (small) safetensors file
        import torch
        from safetensors.torch import save_file

        save_file({"logit_scale": torch.ones(1)}, path)
    else:
        path.write_bytes(data)
    return path


def run_mllbench(args: list[str], env: dict, prelude: str = "") -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter, so huggingface_hub reads HF_HOME from ``env``."""
    script = f"{prelude}import sys\nfrom mllbench.cli.main import main\nsys.argv = ['mllbench', *{args!r}]\nmain()\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env}, cwd=Path(env["HF_HOME"]).parent)


def dry_run_lines(out: str) -> dict[str, list[str]]:
    rows = [line.split(None, 4) for line in out.splitlines() if line.startswith("  ") and "status" not in line]
    return {r[3]: r for r in rows}


@pytest.mark.slow
def test_dry_run_offline_lists_what_to_fetch_and_sees_the_hub_cache(tmp_path):
    open_clip_or_skip()
    hf = tmp_path / "hf"
    fake_hub_file(hf, "timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors")
    # roberta: weights cached but not its Hugging Face text tower; xlm-roberta: all three
    fake_hub_file(hf, "laion/CLIP-ViT-B-32-roberta-base-laion2B-s12B-b32k", "open_clip_pytorch_model.bin", b"x")
    fake_hub_file(hf, "laion/CLIP-ViT-B-32-xlm-roberta-base-laion5B-s13B-b90k", "open_clip_model.safetensors")
    fake_hub_file(hf, "xlm-roberta-base", "config.json", b"{}")
    fake_hub_file(hf, "xlm-roberta-base", "tokenizer.json", b"{}")
    env = {"HF_HOME": str(hf), "HF_HUB_OFFLINE": "1", "MLLBENCH_DATA_ROOT": str(tmp_path / "data")}
    done = run_mllbench(["-b", "mll-paper", "--registry", str(tmp_path / "reg"), "run", "--dry-run"], env)
    assert done.returncode == 0, done.stderr
    lines = dry_run_lines(done.stdout)
    models = {k: v for k, v in lines.items() if v[2] == "model"}
    assert len(models) == 49 and len(lines) == 49 + 22
    cached = {"ViT-B-32/openai", "xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k"}
    assert {k for k, v in models.items() if v[0] == "cached"} == cached
    assert str(hf) in models["ViT-B-32/openai"][4]
    for model_id, (status, size, *_rest) in models.items():
        if model_id not in cached:
            assert status == "fetch" and float(size) > 0, model_id
    assert "hf download roberta-base" in models["roberta-ViT-B-32/laion2b_s12b_b32k"][4]
    assert "hf download timm/resnet50_clip.openai" in models["RN50/openai"][4]
    assert all(v[0] == "fetch" and float(v[1]) > 0 for k, v in lines.items() if v[2] != "model")
    assert "graph: 1,860 WordNet nodes (1,000 sample-dataset classes" in done.stdout
    assert "total fetch    models    47" in done.stdout and "total cached   models     2" in done.stdout


@pytest.mark.slow
def test_dry_run_without_torch_still_checks_the_datasets(tmp_path):
    blocker = ("import importlib.abc, sys\n"
               "class NoTorch(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path, target=None):\n"
               "        if name.split('.')[0] in ('torch', 'open_clip', 'transformers'):\n"
               "            raise ImportError(f'{name} is blocked')\n"
               "sys.meta_path.insert(0, NoTorch())\n")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "MLLBENCH_DATA_ROOT": str(tmp_path / "data")}
    done = run_mllbench(["-b", "mll-paper", "--registry", str(tmp_path / "reg"), "run", "--dry-run",
                         "--tasks", "mnist"], env, blocker)
    assert done.returncode == 0, done.stderr
    lines = dry_run_lines(done.stdout)
    assert all(v[0] == "unknown" and "mllbench[torch]" in v[4] for v in lines.values() if v[2] == "model")
    assert lines["mnist"][0] == "fetch" and lines["imagenet1k"][0] == "fetch"
    assert "total unknown  models    49" in done.stdout


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache for this process (huggingface_hub reads HF_HOME at import)."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


@pytest.fixture
def connections(monkeypatch) -> list:
    """The addresses this process connects sockets to from now on (the connections still happen)."""
    import socket

    tried: list = []
    connect = socket.socket.connect

    def recorded(sock, address):
        tried.append(address)
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recorded)
    return tried


def test_offline_uncached_tag_fails_at_once_naming_the_fetch(hf_cache, connections):
    """No connection is tried (huggingface_hub's retries would take ~46 s per model)."""
    open_clip_or_skip()
    from mllbench.plugins.openclip_provider import load_open_clip

    for model, pretrained, fetch in (("ViT-B-32", "laion2b_s34b_b79k", "hf download laion/CLIP-ViT-B-32-laion2B"),
                                     ("nllb-clip-base", "v1", "hf download facebook/nllb-200-distilled-600M")):
        with pytest.raises(MllbenchError) as err:
            load_open_clip({"model": model, "pretrained": pretrained}, None)
        assert connections == []
        message = str(err.value)
        assert "\n" not in message and f"{model}/{pretrained}" in message and fetch in message


def test_a_hf_text_tower_must_be_cached_too(hf_cache):
    open_clip_or_skip()
    from mllbench.plugins.openclip_provider import check_hub_cache, load_open_clip

    args = {"model": "roberta-ViT-B-32", "pretrained": "laion2b_s12b_b32k"}
    weights = fake_hub_file(hf_cache, "laion/CLIP-ViT-B-32-roberta-base-laion2B-s12B-b32k",
                            "open_clip_model.safetensors")
    status = load_open_clip.locate(args, Path("."))
    assert not status.cached and "roberta-base" in status.fetch and "CLIP-ViT-B-32" not in status.fetch
    with pytest.raises(MllbenchError, match="text tower config, tokenizer for roberta-ViT-B-32"):
        check_hub_cache(args["model"], args["pretrained"])
    fake_hub_file(hf_cache, "roberta-base", "config.json", b"{}")
    fake_hub_file(hf_cache, "roberta-base", "tokenizer.json", b"{}")
    status = load_open_clip.locate(args, Path("."))
    assert status.cached and status.where == str(weights) and status.size_gb > 0 and not status.fetch
    check_hub_cache(args["model"], args["pretrained"])


def test_precision_reaches_the_provider_and_models_are_freed(tiny_json, registry, cli):
    open_clip_or_skip()
    import numpy as np

    from mllbench.pipeline.session import Session
    from mllbench.registry.store import Store

    bench = load_benchmark(get_host(), tiny_json)
    texts = ["a photo of a dog.", "a photo of a cat."]
    fp32 = Session(bench, Store(registry)).model("tiny0").encode_texts(texts)
    session = Session(bench, Store(registry), precision="amp", batch_size=7)
    model = session.model("tiny0")
    assert (model.precision, model.batch_size) == ("amp", 7)
    assert np.allclose(model.encode_texts(texts), fp32, atol=0.05)  # bfloat16 autocast on CPU
    freed = weakref.ref(model.model)
    del model
    session.release_model()
    assert freed() is None  # one model in memory at a time: the previous one is really gone
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "--precision", "fp16", "label")
    assert code == 2 and "fp16 needs a CUDA device" in out and "Traceback" not in out


def test_user_provided_folders_load_in_label_order_and_build_the_graph(bench, tmp_path, monkeypatch):
    from PIL import Image

    from mllbench.semantic.graph import build_graph

    monkeypatch.setenv("MLLBENCH_DATA_ROOT", str(tmp_path))
    for entry, folders in ((bench.task_entry("ucf101"), bench.task_entry("ucf101")["folders"]),
                           (bench.task_entry("imagenet1k"), bench.task_entry("imagenet1k")["wnids"])):
        root = Path(entry["root"].replace("{data_root}", str(tmp_path)))
        for i, folder in enumerate(folders):
            (root / folder).mkdir(parents=True)
            Image.new("RGB", (4, 4), (i % 256, 0, 0)).save(root / folder / "0.png")
    ucf = bench.dataset("ucf101")
    assert len(ucf) == 101 and ucf.info.classnames[0] == "Apply_Eye_Makeup"
    assert ucf.image(int((ucf.labels() == 5).nonzero()[0][0])).getpixel((0, 0))[0] == 5
    imagenet = bench.dataset("imagenet1k")
    assert imagenet.wnids == tuple(bench.task_entry("imagenet1k")["wnids"]) and len(imagenet) == 1000
    assert imagenet.image(int((imagenet.labels() == 7).nonzero()[0][0])).getpixel((0, 0))[0] == 7
    graph = build_graph([imagenet], images_per_node=75, seed=0)
    assert len(graph.wnids) == graph_nodes(bench)[0] == 1860
    assert graph.n_images.max() == 75 and graph.n_images.min() == 1  # entity inherits all, leaves their own


def test_dry_run_says_which_models_need_no_fetch_because_the_registry_has_them(cli, tiny_json, registry):
    open_clip_or_skip()
    base = ["-q", "-b", tiny_json, "--registry", str(registry)]
    code, out = cli(*base, "run", "--dry-run")
    assert code == 0, out
    before = dry_run_lines(out)
    assert {before[m][0] for m in ("tiny0", "tiny1", "tiny2")} == {"cached"}  # local-dir checkpoints on disk
    assert "graph: " in out and "WordNet nodes" in out
    code, out = cli(*base, "run", "--method", "inb")
    assert code == 0, out
    code, out = cli(*base, "run", "--dry-run")
    after = dry_run_lines(out)
    assert {after[m][0] for m in ("tiny0", "tiny1", "tiny2")} == {"registry"}
    assert "total registry models     3" in out


def test_an_unreachable_hub_fails_at_once_and_a_reachable_one_is_left_to_open_clip(hf_cache, connections,
                                                                                    monkeypatch):
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    open_clip_or_skip()
    from huggingface_hub import constants

    from mllbench.plugins.openclip_provider import check_hub_cache

    monkeypatch.delenv("HF_HUB_OFFLINE")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed}")
    with pytest.raises(MllbenchError, match=f"127.0.0.1:{closed} is unreachable: run once online"):
        check_hub_cache("ViT-B-32", "laion2b_s34b_b79k")
    assert connections == [("127.0.0.1", closed)]  # one try: huggingface_hub's own retries take ~46 s per model

    class Hub(BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 - http.server's name
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        check_hub_cache("ViT-B-32", "laion2b_s34b_b79k")  # answers: downloading is open_clip's job
        assert connections[1:] == [("127.0.0.1", server.server_address[1])]
    finally:
        server.shutdown()


def write_wds_snapshot(folder: Path, source_names: list[str], labels: list[int]) -> None:
    """A clip-benchmark webdataset snapshot: classnames.txt and test/0.tar with sNNNNNNN.png + .cls."""
    import io
    import tarfile

    from PIL import Image

    (folder / "test").mkdir(parents=True)
    (folder / "classnames.txt").write_text("\n".join(source_names) + "\n")
    (folder / "test" / "nshards.txt").write_text("1\n")
    with tarfile.open(folder / "test" / "0.tar", "w") as tar:
        for i, label in enumerate(labels):
            png = io.BytesIO()
            Image.new("RGB", (4, 4), (label, 0, 0)).save(png, format="PNG")
            for ext, data in (("png", png.getvalue()), ("cls", str(label).encode())):
                info = tarfile.TarInfo(f"s{i:07d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_webdataset_shards_keep_the_definitions_names_in_label_order(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("MLLBENCH_DATA_ROOT", str(tmp_path))
    gtsrb = bench.task_entry("gtsrb")
    # the shards' own classnames.txt uses clip_benchmark's descriptive names; the label is the ClassId
    write_wds_snapshot(tmp_path / "wds" / gtsrb["repo"], [f"sign {i}" for i in range(43)], [0, 14, 42])
    ds = bench.dataset("gtsrb")
    assert [ds.info.classnames[c] for c in ds.labels()] == ["20kph Speed limit", "Stop",
                                                             "End of no passing by vehicles over 3.5 tons"]
    assert ds.image(1).getpixel((0, 0))[0] == 14
    sample = bench.task_entry("imagenet-a")
    write_wds_snapshot(tmp_path / "wds" / sample["repo"], sample["classnames"], [0, 199])
    ds = bench.dataset("imagenet-a")
    assert ds.wnids == tuple(sample["wnids"]) and [ds.wnids[c] for c in ds.labels()] == ["n01498041", "n12267677"]


def test_open_clips_published_table_covers_the_hub_and_14_targets(bench, monkeypatch):
    from mllbench.report.reference import openclip_truth

    monkeypatch.setenv("MLLBENCH_OPENCLIP_TABLE", str(REFERENCE.parent / "openclip" / "openclip_results.csv"))
    truth, kept = openclip_truth(bench.models, bench.targets)
    assert truth.shape == (49, 14) and set(TABLE1_ORDER) - set(kept) == {"dmlab", "fer2013", "ucf101"}
    assert ((truth > 0) & (truth <= 1)).all()
    inb = max(range(49), key=lambda i: bench.models[i]["metadata"]["imagenet_acc"])
    assert bench.models[inb]["id"] == "ViT-H-14-378-quickgelu/dfn5b"
    assert int((truth.argmax(0) == inb).sum()) == 8  # INB's pick is the best on 8 of the 14 (reference notes)
