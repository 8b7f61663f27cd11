"""The ``torchvision`` dataset source: the files torchvision's dataset classes leave under their
``root``, read directly (pickles, idx, binaries, HDF5, JSON and text lists): no torch, no md5
pass over gigabytes at every start.

Entry keys (besides those of every public source, ``public_datasets.py``): ``reader`` (one of
``READERS``: cifar100, mnist, stl10, pcam, food101, dtd, gtsrb, pets, country211, renderedsst2;
default: the entry's ``name``; always the test split) and ``root`` (default
``{data_root}/torchvision``). A missing cache is downloaded by torchvision's own class, imported
only then.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mllbench.contract import ArtifactStatus, MllbenchError, offline
from mllbench.plugins.datasets import (ListedDataset, from_pixels, listed, read_file, read_lines, resolve_path,
                                       short_hash)


class ArrayUnpickler(pickle.Unpickler):
    """CIFAR's pickles hold dicts, lists, bytes and numpy arrays: allow only those, run no other code.

    (``_codecs.encode`` is how protocol 2 stores bytes when written by Python 3.)
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in a dataset pickle")
        return super().find_class(module, name)


def unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        data = ArrayUnpickler(f, encoding="bytes").load()
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in data.items()}


def decode_text(values: Sequence) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_cifar100(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
    test, meta = unpickle(root / "cifar-100-python" / "test"), unpickle(root / "cifar-100-python" / "meta")
    pixels = np.asarray(test["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    names = [n.replace("_", " ") for n in decode_text(meta["fine_label_names"])]
    return pixels, np.asarray(test["fine_labels"]), from_pixels, names


def read_idx(path: Path) -> np.ndarray:
    """LeCun's idx format (big-endian dims after a type/rank magic); gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise MllbenchError(f"{path} is not an unsigned-byte idx file")
    rank = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def first_existing(*paths: Path) -> Path:
    return next((p for p in paths if p.is_file()), paths[0])


def read_mnist(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
    raw = root / "MNIST" / "raw"
    images = read_idx(first_existing(raw / "t10k-images-idx3-ubyte", raw / "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(first_existing(raw / "t10k-labels-idx1-ubyte", raw / "t10k-labels-idx1-ubyte.gz"))
    return images, labels, from_gray, [str(d) for d in range(10)]


def from_gray(pixels: np.ndarray):
    """Grayscale digits as RGB, like every other source's images."""
    return from_pixels(pixels).convert("RGB")


def read_stl10(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
    base = root / "stl10_binary"
    # stored channel-major and column-major per image (torchvision transposes the same way)
    pixels = np.fromfile(base / "test_X.bin", dtype=np.uint8).reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)
    labels = np.fromfile(base / "test_y.bin", dtype=np.uint8).astype(np.int64) - 1
    return pixels, labels, from_pixels, read_lines(base / "class_names.txt")


@dataclass(frozen=True)
class H5Row:
    """One image of an HDF5 array, read on demand (PCam's test split is 0.9 GB of pixels)."""

    path: Path
    row: int

    def decode(self):
        import h5py

        with h5py.File(self.path, "r") as f:
            return from_pixels(f["x"][self.row])


def read_pcam(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
    import h5py

    base = root / "pcam"
    images = base / "camelyonpatch_level_2_split_test_x.h5"
    with h5py.File(base / "camelyonpatch_level_2_split_test_y.h5", "r") as f:
        labels = f["y"][:].reshape(-1)
    with h5py.File(images, "r") as f:
        n = f["x"].shape[0]
    return [H5Row(images, i) for i in range(n)], labels, H5Row.decode, ["negative", "positive"]


def read_food101(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
    base = root / "food-101"
    meta = json.loads((base / "meta" / "test.json").read_text())
    classes = sorted(meta)  # torchvision's label order
    pairs = [(base / "images" / f"{rel}.jpg", c) for c, name in enumerate(classes) for rel in meta[name]]
    return [p for p, _ in pairs], np.array([c for _, c in pairs]), read_file, [c.replace("_", " ") for c in classes]


def read_dtd(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
    base = root / "dtd" / "dtd"
    rels = [line.split("/") for line in read_lines(base / "labels" / "test1.txt") if line]
    classes = sorted({cls for cls, _ in rels})
    index = {c: i for i, c in enumerate(classes)}
    return ([base / "images" / cls / name for cls, name in rels], np.array([index[cls] for cls, _ in rels]),
            read_file, classes)


def read_gtsrb(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
    import csv

    base = root / "gtsrb"
    with open(base / "GT-final_test.csv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";", skipinitialspace=True))
    files = [base / "GTSRB" / "Final_Test" / "Images" / r["Filename"] for r in rows]
    return files, np.array([int(r["ClassId"]) for r in rows]), read_file, [str(c) for c in range(43)]


def read_pets(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
    base = root / "oxford-iiit-pet"
    rows = [line.split() for line in read_lines(base / "annotations" / "test.txt") if line]
    labels = np.array([int(r[1]) - 1 for r in rows])  # 1-based in the annotation file
    # torchvision's names: image "great_pyrenees_12" -> class "Great Pyrenees"
    names = {int(r[1]) - 1: " ".join(w.title() for w in r[0].rsplit("_", 1)[0].split("_")) for r in rows}
    return ([base / "images" / f"{r[0]}.jpg" for r in rows], labels, read_file,
            [names.get(c, "") for c in range(max(names, default=-1) + 1)])


def folder_reader(relative: str, extensions: tuple[str, ...]) -> Callable:
    """torchvision datasets that are ImageFolders underneath (Country211, RenderedSST2): sorted class folders."""
    def read(root: Path) -> tuple[Sequence, np.ndarray, Callable, list[str]]:
        base = root / relative
        classes = sorted(p.name for p in base.iterdir() if p.is_dir())
        pairs = [(f, c) for c, name in enumerate(classes) for f in sorted((base / name).iterdir())
                 if f.suffix.lower() in extensions]
        return [f for f, _ in pairs], np.array([c for _, c in pairs]), read_file, classes
    return read


@dataclass(frozen=True)
class Reader:
    """A torchvision cache: the files it needs, how to read them, and the class that downloads them."""

    needs: tuple[str, ...]  # paths under root; each entry may list alternatives as "a|b"
    read: Callable[[Path], tuple[Sequence, np.ndarray, Callable, list[str]]]
    tv_class: str
    tv_kwargs: Mapping[str, Any]
    size_gb: float  # what torchvision downloads (whole archives), approximately

    def present(self, root: Path) -> bool:
        return all(any((root / alt).exists() for alt in need.split("|")) for need in self.needs)


READERS: dict[str, Reader] = {
    "cifar100": Reader(("cifar-100-python/test", "cifar-100-python/meta"), read_cifar100, "CIFAR100",
                       {"train": False}, 0.17),
    "mnist": Reader(("MNIST/raw/t10k-images-idx3-ubyte|MNIST/raw/t10k-images-idx3-ubyte.gz",
                     "MNIST/raw/t10k-labels-idx1-ubyte|MNIST/raw/t10k-labels-idx1-ubyte.gz"), read_mnist, "MNIST",
                    {"train": False}, 0.01),
    "stl10": Reader(("stl10_binary/test_X.bin", "stl10_binary/test_y.bin"), read_stl10, "STL10",
                    {"split": "test"}, 2.6),
    "pcam": Reader(("pcam/camelyonpatch_level_2_split_test_x.h5", "pcam/camelyonpatch_level_2_split_test_y.h5"),
                   read_pcam, "PCAM", {"split": "test"}, 0.8),
    "food101": Reader(("food-101/meta/test.json", "food-101/images"), read_food101, "Food101",
                      {"split": "test"}, 5.0),
    "dtd": Reader(("dtd/dtd/labels/test1.txt", "dtd/dtd/images"), read_dtd, "DTD",
                  {"split": "test", "partition": 1}, 0.6),
    "gtsrb": Reader(("gtsrb/GT-final_test.csv", "gtsrb/GTSRB/Final_Test/Images"), read_gtsrb, "GTSRB",
                    {"split": "test"}, 0.09),
    "pets": Reader(("oxford-iiit-pet/annotations/test.txt", "oxford-iiit-pet/images"), read_pets,
                   "OxfordIIITPet", {"split": "test"}, 0.8),
    "country211": Reader(("country211/test",), folder_reader("country211/test", (".jpg", ".jpeg", ".png")),
                         "Country211", {"split": "test"}, 11.0),
    "renderedsst2": Reader(("rendered-sst2/test",), folder_reader("rendered-sst2/test", (".png",)),
                           "RenderedSST2", {"split": "test"}, 0.13),
}


def tv_reader(entry: dict) -> Reader:
    name = entry.get("reader", entry["name"])
    if name not in READERS:
        raise MllbenchError(f"dataset {entry['name']!r}: no torchvision reader {name!r}; "
                            f"known: {', '.join(READERS)} (or use the `wds` or `imagefolder` source)")
    return READERS[name]


def tv_root(entry: dict, base_dir: Path) -> Path:
    return resolve_path(entry.get("root", "{data_root}/torchvision"), base_dir)


def tv_fetch_hint(reader: Reader, root: Path) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in reader.tv_kwargs.items())
    return f"python -c \"import torchvision; torchvision.datasets.{reader.tv_class}('{root}', {args}, download=True)\""


def fetch_torchvision(entry: dict, reader: Reader, root: Path) -> None:
    hint = tv_fetch_hint(reader, root)
    if offline():
        raise MllbenchError(f"dataset {entry['name']!r}: not in {root} and offline; fetch it with: {hint}")
    # torchvision's import needs the op shim on a CPU torch beside PyPI's CUDA torchvision (see the provider)
    from mllbench.plugins.openclip_runtime import import_open_clip

    import_open_clip()
    try:
        import torchvision.datasets as tvd

        getattr(tvd, reader.tv_class)(str(root), download=True, **reader.tv_kwargs)
    except (ImportError, RuntimeError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MllbenchError(f"dataset {entry['name']!r}: torchvision could not download it ({reason}); "
                            f"fetch it with: {hint}") from exc


def load_torchvision(entry: dict, base_dir: Path) -> ListedDataset:
    reader, root = tv_reader(entry), tv_root(entry, base_dir)
    if not reader.present(root):
        fetch_torchvision(entry, reader, root)
    try:
        items, labels, decode, names = reader.read(root)
    except (OSError, KeyError, ValueError, pickle.UnpicklingError) as exc:
        raise MllbenchError(f"dataset {entry['name']!r}: cannot read the torchvision files under {root} "
                            f"({exc}); delete them and fetch again: {tv_fetch_hint(reader, root)}") from exc
    labels = np.asarray(labels, dtype=np.int64)
    return listed(entry, items, labels, decode, names,
                  {"source": f"torchvision {reader.tv_class} cache {root}",
                   "version": cache_version(root, reader, items, labels)})


def cache_version(root: Path, reader: Reader, items: Sequence, labels: np.ndarray) -> str:
    """Sizes of the files read, the labels, and the image files' names: any change means new caches."""
    files = [p for need in reader.needs for p in (root / alt for alt in need.split("|")) if p.is_file()]
    listing = [str(i.relative_to(root)) for i in items if isinstance(i, Path)]
    digest = hashlib.sha256(labels.astype("<i8").tobytes() + "\n".join(listing).encode()).hexdigest()
    return short_hash([(str(p.relative_to(root)), p.stat().st_size) for p in files], len(labels), digest)


def locate_torchvision(entry: dict, base_dir: Path) -> ArtifactStatus:
    reader, root = tv_reader(entry), tv_root(entry, base_dir)
    cached = reader.present(root)
    return ArtifactStatus(entry["name"], "dataset", cached, str(root),
                          "" if cached else tv_fetch_hint(reader, root), entry.get("size_gb", reader.size_gb))


load_torchvision.locate = locate_torchvision
