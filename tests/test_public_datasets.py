"""Public dataset sources on tiny fixtures written in the real on-disk formats.

- ``wds``: a CLIP_benchmark webdataset snapshot as the hub repo holds it
  (classnames.txt, templates, ``test/nshards.txt``, ``test/N.tar`` with
  ``s0000000.webp`` + ``s0000000.cls`` members);
- ``torchvision``: the files torchvision's dataset classes leave under their
  root (CIFAR-100 pickles, MNIST idx, STL-10 binaries, PCam HDF5, ...);
- ``imagefolder``: an ImageNet-style ``val/<wnid>/`` tree under the data root.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from mllbench.host.benchmark import load_benchmark
from mllbench.host.plugins import get_host
from mllbench.core.types import MllbenchError

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255],
                    [128, 64, 32], [10, 200, 90]], dtype=np.uint8)


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("MLLBENCH_DATA_ROOT", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MLLBENCH_OFFLINE", raising=False)
    return root


def source(name: str):
    return get_host().get("dataset source", name)


def solid(i: int, size: int = 8) -> np.ndarray:
    return np.broadcast_to(COLOURS[i % len(COLOURS)], (size, size, 3)).copy()


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o444, 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def write_shard(path: Path, samples: list[tuple[int, np.ndarray, int, str]]) -> None:
    """A shard as webdataset's ShardWriter writes it: per sample ``s%07d.<ext>`` then ``s%07d.cls``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for key, pixels, label, ext in samples:
            add_member(tar, f"s{key:07d}.{ext}", encode(pixels, {"webp": "WEBP", "png": "PNG", "jpg": "JPEG"}[ext]))
            add_member(tar, f"s{key:07d}.cls", str(label).encode())


def write_snapshot(folder: Path, shards: list[list[tuple[np.ndarray, int, str]]], classnames: list[str],
                   templates: tuple[str, ...] = ("a photo of a {c}.", "a blurry photo of a {c}.")) -> None:
    """A clip-benchmark/wds_* repo snapshot (what `hf download ... --local-dir` leaves)."""
    key = 0
    for n, shard in enumerate(shards):
        write_shard(folder / "test" / f"{n}.tar",
                    [(key + j, px, label, ext) for j, (px, label, ext) in enumerate(shard)])
        key += len(shard)
    (folder / "test" / "nshards.txt").write_text(f"{len(shards)}\n")
    (folder / "classnames.txt").write_text("\n".join(classnames) + "\n")
    (folder / "zeroshot_classification_templates.txt").write_text("\n".join(templates) + "\n")


def tiny_shards() -> list[list[tuple[np.ndarray, int, str]]]:
    return [[(solid(0), 2, "webp"), (solid(1), 0, "webp"), (solid(2), 1, "png")],
            [(solid(3), 1, "webp"), (solid(4), 2, "webp")]]


def pixel(image) -> tuple[int, ...]:
    return tuple(np.asarray(image)[2, 2])


# ---------------------------------------------------------------- wds ----

def test_wds_snapshot_reads_classes_labels_pixels_and_templates(data_root):
    folder = data_root / "wds" / "clip-benchmark" / "wds_tiny"
    write_snapshot(folder, tiny_shards(), ["cat", "dog", "bird"])
    entry = {"name": "tiny", "source": "wds", "repo": "clip-benchmark/wds_tiny", "templates": "clip_benchmark",
             "domain": "natural picture", "task_type": "image classification"}
    ds = source("wds")(entry, Path("/nowhere"))
    assert ds.info.classnames == ("cat", "dog", "bird")
    assert ds.info.templates == ("a photo of a {}.", "a blurry photo of a {}.")
    assert ds.labels().tolist() == [2, 0, 1, 1, 2]
    assert [pixel(ds.image(i)) for i in range(len(ds))] == [tuple(COLOURS[i]) for i in range(5)]
    assert ds.wnids is None and "clip-benchmark/wds_tiny" in ds.metadata["source"]
    # the entry's own class names (label order) and wnids win over classnames.txt
    named = source("wds")({**entry, "classnames": ["tabby", "puppy", "robin"],
                           "wnids": ["n02123045", "n02085620", "n01558993"], "templates": ["a photo of {}."]},
                          Path("/nowhere"))
    assert named.info.classnames == ("tabby", "puppy", "robin") and named.wnids[0] == "n02123045"
    assert named.info.templates == ("a photo of {}.",)


def test_wds_index_is_written_once_reused_and_rebuilt_when_a_shard_changes(data_root):
    folder = data_root / "snap"
    write_snapshot(folder, tiny_shards(), ["cat", "dog", "bird"])
    entry = {"name": "tiny", "source": "wds", "path": "{data_root}/snap"}
    first = source("wds")(entry, Path("/nowhere"))
    index = folder / "test" / ".mllbench-index.npz"
    stamp = index.stat().st_mtime_ns, index.stat().st_ino
    again = source("wds")(entry, Path("/nowhere"))
    assert (index.stat().st_mtime_ns, index.stat().st_ino) == stamp  # reused, not rewritten
    assert again.labels().tolist() == first.labels().tolist() and first.metadata["version"] == again.metadata["version"]
    # a re-fetched shard with other content: the stale index must not be used
    write_shard(folder / "test" / "1.tar",
                [(3, solid(5), 0, "webp"), (4, solid(6), 2, "jpg"), (5, solid(7), 1, "webp")])
    changed = source("wds")(entry, Path("/nowhere"))
    assert changed.labels().tolist() == [2, 0, 1, 0, 2, 1]
    assert pixel(changed.image(3)) == tuple(COLOURS[5]) and pixel(changed.image(5)) == tuple(COLOURS[7])
    assert np.abs(np.subtract(pixel(changed.image(4)), COLOURS[6], dtype=int)).max() < 12  # JPEG
    assert changed.metadata["version"] != first.metadata["version"]


def test_wds_relative_path_is_the_users_folder_of_shards_without_nshards(tmp_path):
    folder = tmp_path / "bench" / "myshards"
    write_snapshot(folder, tiny_shards(), ["a", "b", "c"])
    (folder / "test" / "nshards.txt").unlink()
    ds = source("wds")({"name": "mine", "source": "wds", "path": "myshards"}, tmp_path / "bench")
    assert len(ds) == 5 and ds.info.classnames == ("a", "b", "c")


def test_wds_locate_and_offline_missing_error_name_the_fetch_command(data_root):
    entry = {"name": "cifar100", "source": "wds", "repo": "clip-benchmark/wds_vtab-cifar100", "size_gb": 0.03}
    status = source("wds").locate(entry, Path("/nowhere"))
    target = data_root / "wds" / "clip-benchmark" / "wds_vtab-cifar100"
    assert not status.cached and status.where == str(target) and status.size_gb == 0.03
    assert status.fetch.startswith("hf download clip-benchmark/wds_vtab-cifar100 --repo-type dataset")
    assert f"--local-dir {target}" in status.fetch and "--include 'test/*'" in status.fetch
    with pytest.raises(MllbenchError, match=r"'cifar100'.*offline.*hf download clip-benchmark/wds_vtab-cifar100"):
        source("wds")(entry, Path("/nowhere"))
    write_snapshot(target, tiny_shards(), ["a", "b", "c"])
    status = source("wds").locate(entry, Path("/nowhere"))
    assert status.cached and status.fetch == "" and 0 < status.size_gb < 0.001  # measured on disk


def test_wds_online_download_failure_is_one_clear_line(data_root, monkeypatch):
    pytest.importorskip("huggingface_hub")
    import socket

    with socket.socket() as s:  # a port nothing listens on: the hub client fails at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    import importlib

    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)  # it reads HF_ENDPOINT / HF_HUB_OFFLINE at import
    try:
        with pytest.raises(MllbenchError, match=r"cannot download clip-benchmark/wds_x .*hf download") as err:
            source("wds")({"name": "x", "source": "wds", "repo": "clip-benchmark/wds_x"}, Path("/nowhere"))
        assert "\n" not in str(err.value)
    finally:
        monkeypatch.undo()
        importlib.reload(huggingface_hub.constants)


def test_a_truncated_shard_is_a_clear_error(data_root):
    write_snapshot(data_root / "snap", tiny_shards(), ["cat", "dog", "bird"])
    shard = data_root / "snap" / "test" / "1.tar"
    shard.write_bytes(shard.read_bytes()[:700])  # a download cut short, inside the first member
    with pytest.raises(MllbenchError, match=r"'t': cannot read the shards in .*fetch it again"):
        source("wds")({"name": "t", "source": "wds", "path": "{data_root}/snap"}, Path("/nowhere"))


def test_wds_label_beyond_the_class_names_is_an_error(data_root):
    write_snapshot(data_root / "snap", tiny_shards(), ["cat", "dog"])
    with pytest.raises(MllbenchError, match="label 2 but only 2 class names"):
        source("wds")({"name": "t", "source": "wds", "path": "{data_root}/snap"}, Path("/nowhere"))


# --------------------------------------------------------- torchvision ----

def write_cifar100(root: Path, pixels: np.ndarray, labels: list[int], names: list[str]) -> None:
    """cifar-100-python/{test,meta}: protocol-2 pickles with bytes keys, rows of 3072 channel-major bytes."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    test = {b"filenames": [f"{i}.png".encode() for i in range(len(labels))], b"fine_labels": labels,
            b"coarse_labels": [0] * len(labels), b"data": pixels.transpose(0, 3, 1, 2).reshape(len(labels), -1)}
    (base / "test").write_bytes(pickle.dumps(test, protocol=2))
    meta = {b"fine_label_names": [n.encode() for n in names], b"coarse_label_names": [b"things"]}
    (base / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)


def write_jpegs(files: list[Path], start: int = 0) -> None:
    from PIL import Image

    for i, f in enumerate(files):
        f.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(solid(start + i, 16)).save(f, format="PNG" if f.suffix in (".png", ".ppm") else "JPEG",
                                                   quality=100)


def fixture_cifar100(root: Path):
    write_cifar100(root, np.stack([solid(i, 32) for i in range(4)]), [1, 0, 2, 1], ["apple", "aquarium_fish", "bee"])
    return [1, 0, 2, 1], ["apple", "aquarium fish", "bee"], True


def fixture_mnist(root: Path):
    raw = root / "MNIST" / "raw"
    write_idx(raw / "t10k-images-idx3-ubyte", np.stack([np.full((28, 28), 40 * i) for i in range(4)]), gz=False)
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.array([7, 2, 1, 0]), gz=True)
    return [7, 2, 1, 0], [str(d) for d in range(10)], "gray"


def fixture_stl10(root: Path):
    base = root / "stl10_binary"
    base.mkdir(parents=True)
    images = np.stack([solid(i, 96) for i in range(3)])
    images[0, 0, 5] = (1, 2, 3)  # row 0, column 5: catches a missed column-major transpose
    images.transpose(0, 3, 2, 1).tofile(base / "test_X.bin")  # channel-major, column-major
    np.array([2, 1, 10], dtype=np.uint8).tofile(base / "test_y.bin")  # 1-based
    (base / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    return [1, 0, 9], [f"c{i}" for i in range(10)], True


def fixture_pcam(root: Path):
    import h5py

    base = root / "pcam"
    base.mkdir(parents=True)
    with h5py.File(base / "camelyonpatch_level_2_split_test_x.h5", "w") as f:
        f["x"] = np.stack([solid(i, 96) for i in range(3)])
    with h5py.File(base / "camelyonpatch_level_2_split_test_y.h5", "w") as f:
        f["y"] = np.array([1, 0, 1], dtype=np.uint8).reshape(3, 1, 1, 1)
    return [1, 0, 1], ["negative", "positive"], True


def fixture_food101(root: Path):
    base = root / "food-101"
    meta = {"waffles": ["waffles/1", "waffles/2"], "apple_pie": ["apple_pie/9"]}
    (base / "meta").mkdir(parents=True)
    (base / "meta" / "test.json").write_text(json.dumps(meta))
    write_jpegs([base / "images" / "apple_pie" / "9.jpg", base / "images" / "waffles" / "1.jpg",
                 base / "images" / "waffles" / "2.jpg"])
    return [0, 1, 1], ["apple pie", "waffles"], "jpeg"


def fixture_dtd(root: Path):
    base = root / "dtd" / "dtd"
    (base / "labels").mkdir(parents=True)
    (base / "labels" / "test1.txt").write_text("zigzagged/z_1.jpg\nbanded/b_1.jpg\nbanded/b_2.jpg\n")
    write_jpegs([base / "images" / "zigzagged" / "z_1.jpg", base / "images" / "banded" / "b_1.jpg",
                 base / "images" / "banded" / "b_2.jpg"])
    return [1, 0, 0], ["banded", "zigzagged"], "jpeg"


def fixture_gtsrb(root: Path):
    base = root / "gtsrb"
    base.mkdir(parents=True)
    with open(base / "GT-final_test.csv", "w", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId"])
        for i, cls in enumerate([16, 1, 38]):
            w.writerow([f"{i:05d}.ppm", 16, 16, 1, 1, 15, 15, cls])
    write_jpegs([base / "GTSRB" / "Final_Test" / "Images" / f"{i:05d}.ppm" for i in range(3)])
    return [16, 1, 38], [str(c) for c in range(43)], True


def fixture_pets(root: Path):
    base = root / "oxford-iiit-pet"
    (base / "annotations").mkdir(parents=True)
    (base / "annotations" / "test.txt").write_text("Abyssinian_201 1 1 1\ngreat_pyrenees_12 2 2 2\n"
                                                   "Abyssinian_5 1 1 1\n")
    write_jpegs([base / "images" / f"{n}.jpg" for n in ("Abyssinian_201", "great_pyrenees_12", "Abyssinian_5")])
    return [0, 1, 0], ["Abyssinian", "Great Pyrenees"], "jpeg"


def fixture_country211(root: Path):
    base = root / "country211" / "test"
    write_jpegs([base / "AD" / "1.jpg", base / "ZW" / "7.jpg", base / "ZW" / "8.jpg"])
    return [0, 1, 1], ["AD", "ZW"], "jpeg"


def fixture_renderedsst2(root: Path):
    base = root / "rendered-sst2" / "test"
    write_jpegs([base / "negative" / "0.png", base / "positive" / "1.png"])
    return [0, 1], ["negative", "positive"], True


TV_FIXTURES = {"cifar100": fixture_cifar100, "mnist": fixture_mnist, "stl10": fixture_stl10, "pcam": fixture_pcam,
               "food101": fixture_food101, "dtd": fixture_dtd, "gtsrb": fixture_gtsrb, "pets": fixture_pets,
               "country211": fixture_country211, "renderedsst2": fixture_renderedsst2}


def test_every_torchvision_reader_has_a_fixture():
    from mllbench.plugins.torchvision_caches import READERS

    assert set(READERS) == set(TV_FIXTURES)


@pytest.mark.parametrize("name", sorted(TV_FIXTURES))
def test_torchvision_cache_reads_labels_classes_and_pixels(name, data_root):
    tv = data_root / "torchvision"
    entry = {"name": name, "source": "torchvision", "size_gb": 1.5}
    assert not source("torchvision").locate(entry, Path("/nowhere")).cached
    labels, names, exact = TV_FIXTURES[name](tv)
    status = source("torchvision").locate(entry, Path("/nowhere"))
    assert status.cached and status.where == str(tv) and status.fetch == ""
    ds = source("torchvision")(entry, Path("/nowhere"))
    assert ds.labels().tolist() == labels and list(ds.info.classnames) == names and len(ds) == len(labels)
    for i in range(len(ds)):
        got = np.asarray(ds.image(i))
        assert got.shape[2] == 3
        if exact == "gray":
            assert (got == 40 * i).all()
        else:
            tolerance = 0 if exact is True else 6
            assert np.abs(got[8, 8].astype(int) - COLOURS[i]).max() <= tolerance
    if name == "stl10":
        assert tuple(np.asarray(ds.image(0))[0, 5]) == (1, 2, 3)


def test_torchvision_offline_missing_names_the_dataset_class_and_locate_the_size(data_root, monkeypatch):
    monkeypatch.setenv("MLLBENCH_OFFLINE", "1")
    entry = {"name": "cifar100", "source": "torchvision"}
    status = source("torchvision").locate(entry, Path("/nowhere"))
    assert not status.cached and status.size_gb == 0.17
    assert "torchvision.datasets.CIFAR100(" in status.fetch and "download=True" in status.fetch
    with pytest.raises(MllbenchError, match=r"'cifar100'.*offline.*torchvision.datasets.CIFAR100"):
        source("torchvision")(entry, Path("/nowhere"))
    with pytest.raises(MllbenchError, match="no torchvision reader 'ucf101'"):
        source("torchvision")({"name": "ucf101", "source": "torchvision"}, Path("/nowhere"))


def test_a_pickle_that_would_run_code_is_refused(data_root):
    import subprocess  # noqa: F401 - only named inside the malicious pickle

    class Evil:
        def __reduce__(self):
            return (subprocess.call, (["true"],))

    write_cifar100(data_root / "torchvision", np.stack([solid(0, 32)]), [0], ["apple"])
    (data_root / "torchvision" / "cifar-100-python" / "meta").write_bytes(pickle.dumps({b"x": Evil()}, protocol=2))
    with pytest.raises(MllbenchError, match=r"refusing \w+\.call in a dataset pickle"):
        source("torchvision")({"name": "cifar100", "source": "torchvision"}, Path("/x"))


# ---------------------------------------------------------- imagefolder ----

def test_imagefolder_under_the_data_root_with_wnid_folders(data_root):
    val = data_root / "imagenet" / "val"
    write_jpegs([val / "n01440764" / "ILSVRC2012_val_00000293.JPEG", val / "n01443537" / "a.JPEG",
                 val / "n01443537" / "b.JPEG"])
    entry = {"name": "imagenet1k", "source": "imagefolder", "root": "{data_root}/imagenet/val",
             "classnames": ["tench", "goldfish"], "wnids": ["n01440764", "n01443537"], "size_gb": 6.4,
             "fetch": "sort ILSVRC2012_img_val.tar into one folder per wnid"}
    status = source("imagefolder").locate(entry, Path("/nowhere"))
    assert status.cached and status.where == str(val) and status.size_gb == 6.4
    ds = source("imagefolder")(entry, Path("/nowhere"))
    assert ds.wnids == ("n01440764", "n01443537") and ds.info.classnames == ("tench", "goldfish")
    assert ds.labels().tolist() == [0, 1, 1]
    assert np.abs(np.asarray(ds.image(2))[8, 8].astype(int) - COLOURS[2]).max() <= 6
    missing = {**entry, "wnids": ["n01440764", "n09999999"]}
    with pytest.raises(MllbenchError, match="class folder.*n09999999.*ILSVRC2012_img_val"):
        source("imagefolder")(missing, Path("/nowhere"))
    gone = {**entry, "root": "{data_root}/ucf101/UCF-101-midframes", "fetch": "extract the middle frames"
            " into {data_root}/ucf101/UCF-101-midframes/<class>/"}
    status = source("imagefolder").locate(gone, Path("/nowhere"))
    assert not status.cached
    assert status.fetch == f"extract the middle frames into {data_root}/ucf101/UCF-101-midframes/<class>/"
    with pytest.raises(MllbenchError, match="UCF-101-midframes not found; extract the middle frames"):
        source("imagefolder")(gone, Path("/nowhere"))


# ------------------------------------------------------------ end to end ----

def test_benchmark_on_wds_and_torchvision_sources_matches_the_imagefolder_one(tiny_bench_dir, tmp_path, cli,
                                                                              data_root, monkeypatch):
    """The tiny benchmark's images re-laid as hub shards and a CIFAR cache: same per-model accuracies."""
    from PIL import Image

    tiny = json.loads((tiny_bench_dir / "tiny.json").read_text())

    def images_of(entry):
        for c, cls in enumerate(entry["classes"]):
            for f in sorted((tiny_bench_dir / entry["root"] / cls["folder"]).iterdir()):
                yield np.asarray(Image.open(f).convert("RGB")), c

    samples = []
    for entry in tiny["samples"]:  # sample datasets: user folders of shards, with wnids
        shard = [(px, c, "webp") for px, c in images_of(entry)]
        write_snapshot(data_root / "mine" / entry["name"], [shard[:5], shard[5:]], [])
        samples.append({"name": entry["name"], "source": "wds", "path": f"{{data_root}}/mine/{entry['name']}",
                        "classnames": [c["name"] for c in entry["classes"]],
                        "wnids": [c["wnid"] for c in entry["classes"]], "domain": entry["domain"],
                        "task_type": entry["task_type"]})
    first, second = tiny["targets"]
    write_snapshot(data_root / "wds" / "clip-benchmark" / f"wds_{first['name']}", [[(px, c, "webp") for px, c in
                                                                                    images_of(first)]],
                   [c["name"] for c in first["classes"]])
    pairs = list(images_of(second))
    write_cifar100(data_root / "torchvision", np.stack([px for px, _ in pairs]), [c for _, c in pairs],
                   [c["name"] for c in second["classes"]])
    targets = [{"name": first["name"], "source": "wds", "repo": f"clip-benchmark/wds_{first['name']}",
                "domain": first["domain"], "task_type": first["task_type"]},
               {"name": second["name"], "source": "torchvision", "reader": "cifar100",
                "domain": second["domain"], "task_type": second["task_type"]}]
    public = tiny_bench_dir / "tiny-public.json"
    public.write_text(json.dumps({**tiny, "name": "tiny-public", "samples": samples, "targets": targets}))

    # every image and label equal the ImageFolder originals, sample wnids included
    ours, theirs = (load_benchmark(get_host(), str(p)) for p in (public, tiny_bench_dir / "tiny.json"))
    for entry in tiny["samples"] + tiny["targets"]:
        a, b = ours.dataset(entry["name"]), theirs.dataset(entry["name"])
        assert a.labels().tolist() == b.labels().tolist() and a.info.classnames == b.info.classnames
        assert a.wnids == b.wnids
        assert all(np.array_equal(np.asarray(a.image(i)), np.asarray(b.image(i))) for i in range(len(a)))
    # and the whole pipeline runs on them, found through the CLI's --data-root alone
    monkeypatch.setenv("MLLBENCH_DATA_ROOT", str(tmp_path / "elsewhere"))
    base = ["-q", "--data-root", str(data_root), "-b", str(public), "--registry", str(tmp_path / "reg")]
    code, out = cli(*base, "run", "--method", "mll", "--tasks", "all")
    assert code == 0, out
    code, out = cli(*base, "leaderboard", "--format", "csv", "--per-model")
    assert code == 0, out
    rows = {row[0]: row for row in csv.reader(out.strip().splitlines()) if row}
    assert {"mll (k=1)", "tiny0", "tiny1", "tiny2"} <= set(rows)
    assert rows["model"][1:3] == [first["name"], second["name"]]
    assert os.environ["MLLBENCH_DATA_ROOT"] == str(data_root)
