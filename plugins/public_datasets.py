"""Dataset sources for public benchmarks: CLIP_benchmark webdataset shards and torchvision caches.

Both read the files themselves (tar members, pickles, idx, HDF5, JSON/text
lists), so the core stays torch-free and no md5 pass over gigabytes runs at
every start; downloads go through the sources' own clients, lazily imported:
``huggingface_hub.snapshot_download`` for the shards, torchvision's dataset
classes for the caches. Everything lives under one data root
(``MLLBENCH_DATA_ROOT`` / ``mllbench --data-root``, default
``~/.cache/mllbench/data``). Offline (``--offline``, ``HF_HUB_OFFLINE=1`` for
the hub) a missing dataset is a one-line error with the command that fetches it.

Entry keys of every source: ``name``, ``source``, ``classnames`` (label order;
wins over the files' names), ``wnids`` (sample datasets, aligned with the
class names), ``domain``, ``task_type``, ``templates`` (prompts with ``{}``;
default ``["a photo of {}."]``), ``size_gb`` (approximate download size, shown
by ``run --dry-run``), ``licence``.

``wds`` -- a CLIP_benchmark webdataset snapshot (``clip_benchmark`` 1.6's
``build_wds_dataset`` layout)::

    <snapshot>/classnames.txt, zeroshot_classification_templates.txt
    <snapshot>/<split>/nshards.txt, 0.tar, 1.tar, ...   members s0000000.webp|jpg|png + s0000000.cls

keys ``repo`` (Hugging Face dataset repo, e.g. ``clip-benchmark/wds_vtab-cifar100``),
``split`` (default ``test``), ``revision`` (default ``main``), ``path`` (a local
snapshot folder; ``{data_root}`` expands; default ``{data_root}/wds/<repo>``), and
``templates: "clip_benchmark"`` for the snapshot's own templates. The tar
members are indexed once (offsets, labels) into ``<split>/.mllbench-index.npz``,
written atomically and reused while the shards are unchanged; images decode on demand.

``torchvision`` -- the files torchvision's dataset classes leave under their
``root``: key ``reader`` (one of ``READERS``: cifar100, mnist, stl10, pcam,
food101, dtd, gtsrb, pets, country211, renderedsst2; default: the entry's
``name``; always the test split) and ``root`` (default ``{data_root}/torchvision``).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mllbench.contract import ArtifactStatus, atomic_file, hookimpl, MllbenchError, offline
from mllbench.plugins.datasets import ListedDataset, data_root, from_pixels, read_file, resolve_path, task_info

IMAGE_EXTS = ("webp", "jpg", "jpeg", "png")  # the image members clip_benchmark writes and reads
METADATA = ("classnames.txt", "zeroshot_classification_templates.txt", "dataset_type.txt")
INDEX_NAME = ".mllbench-index.npz"
INDEX_VERSION = 1


def with_classes(entry: dict, found: Sequence[str], labels: np.ndarray) -> dict:
    """The entry with ``classnames`` filled from the source, checked against the labels."""
    names = list(entry.get("classnames") or found)
    if not names:
        raise MllbenchError(f"dataset {entry['name']!r}: no class names (add `classnames` to its entry)")
    if len(labels) and int(labels.max()) >= len(names):
        raise MllbenchError(f"dataset {entry['name']!r}: label {int(labels.max())} but only {len(names)} class "
                            "names; fix `classnames` in the benchmark definition")
    if entry.get("wnids") is not None and len(entry["wnids"]) != len(names):
        raise MllbenchError(f"dataset {entry['name']!r}: {len(entry['wnids'])} wnids for {len(names)} classes")
    return {**entry, "classnames": names}


def listed(entry: dict, items: Sequence[Any], labels: np.ndarray, decode: Callable[[Any], Any],
           found_names: Sequence[str], metadata: Mapping[str, Any]) -> ListedDataset:
    full = with_classes(entry, found_names, labels)
    wnids = tuple(entry["wnids"]) if entry.get("wnids") else None
    return ListedDataset(task_info(full, full["classnames"]), items, labels.astype(np.int64), decode, wnids,
                         {"licence": entry.get("licence", "see the dataset's terms"), **metadata})


def short_hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def size_on_disk_gb(paths: Sequence[Path]) -> float:
    return round(sum(p.stat().st_size for p in paths if p.is_file()) / 1e9, 6)


# ---------------------------------------------------------------- wds ----

def wds_dir(entry: dict, base_dir: Path) -> Path:
    if entry.get("path"):
        return resolve_path(entry["path"], base_dir)
    if not entry.get("repo"):
        raise MllbenchError(f"dataset {entry['name']!r}: a `wds` entry needs `repo` or `path`")
    return data_root() / "wds" / entry["repo"]


def wds_fetch_hint(entry: dict, folder: Path) -> str:
    split = entry.get("split", "test")
    if not entry.get("repo"):
        return f"put the webdataset snapshot (classnames.txt, {split}/nshards.txt, {split}/0.tar ...) in {folder}"
    revision = f" --revision {entry['revision']}" if entry.get("revision") else ""
    return (f"hf download {entry['repo']} --repo-type dataset{revision} --include '{split}/*' "
            + " ".join(f"--include {m}" for m in METADATA[:2]) + f" --local-dir {folder}")


def shard_paths(split_dir: Path) -> list[Path] | None:
    """The split's shards in order, or None while any is missing.

    ``nshards.txt`` (written by clip_benchmark's converter) names the count;
    a user's own folder without it is read as its ``N.tar`` files.
    """
    count_file = split_dir / "nshards.txt"
    if count_file.is_file():
        try:
            paths = [split_dir / f"{i}.tar" for i in range(int(count_file.read_text().strip()))]
        except ValueError:
            return None
        return paths if paths and all(p.is_file() for p in paths) else None
    paths = sorted(split_dir.glob("*.tar"), key=lambda p: (not p.stem.isdigit(), int(p.stem) if p.stem.isdigit()
                                                             else 0, p.name))
    return paths or None


def split_key(member_name: str) -> tuple[str, str]:
    """webdataset's grouping: the key is the path up to the first dot of the file name."""
    folder, _, base = member_name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def index_shard(path: Path, shard: int, entry_name: str) -> list[tuple[int, int, int, int]]:
    """(shard, data offset, size, label) per sample of one tar, in member order."""
    samples: dict[str, dict] = {}
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, ext = split_key(member.name)
            sample = samples.setdefault(key, {})
            if ext in IMAGE_EXTS and "offset" not in sample:
                sample["offset"], sample["size"] = member.offset_data, member.size
            elif ext == "cls":
                sample["label"] = int(tar.extractfile(member).read().decode().strip())
    rows = []
    for key, sample in samples.items():
        if "offset" not in sample or "label" not in sample:
            raise MllbenchError(f"dataset {entry_name!r}: sample {key!r} in {path} lacks an image or a .cls label; "
                                "not a classification webdataset (or a damaged shard: delete it and fetch again)")
        rows.append((shard, sample["offset"], sample["size"], sample["label"]))
    return rows


def shard_signature(paths: Sequence[Path]) -> str:
    """Names, sizes and modification times: a re-downloaded or edited shard invalidates the index."""
    return short_hash([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths])


def index_locations(split_dir: Path) -> list[Path]:
    """Beside the shards; under the data root when the shards' folder is read-only."""
    return [split_dir / INDEX_NAME, data_root() / "index" / short_hash(str(split_dir.resolve())) / INDEX_NAME]


def load_index(paths: Sequence[Path], split_dir: Path, entry_name: str) -> dict[str, np.ndarray]:
    signature = shard_signature(paths)
    for location in index_locations(split_dir):
        try:
            with np.load(location, allow_pickle=False) as saved:
                if str(saved["signature"]) == signature and int(saved["version"]) == INDEX_VERSION:
                    return {k: saved[k] for k in ("shard", "offset", "size", "label")}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            continue  # absent or unreadable: rebuilt below
    try:
        rows = [row for i, p in enumerate(paths) for row in index_shard(p, i, entry_name)]
    except (tarfile.TarError, ValueError, OSError) as exc:
        raise MllbenchError(f"dataset {entry_name!r}: cannot read the shards in {split_dir} ({exc}); a download "
                            "was cut short? delete the folder and fetch it again") from exc
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    index = {"shard": table[:, 0], "offset": table[:, 1], "size": table[:, 2], "label": table[:, 3]}
    for location in index_locations(split_dir):
        try:
            with atomic_file(location) as tmp, open(tmp, "wb") as f:
                np.savez(f, signature=np.array(signature), version=np.array(INDEX_VERSION), **index)
            break
        except OSError:
            continue  # read-only snapshot: try the next location
    return index


@dataclass(frozen=True)
class TarMember:
    """One image inside a shard, read by offset without scanning the tar."""

    path: Path
    offset: int
    size: int

    def decode(self):
        from PIL import Image

        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.size)
        with Image.open(io.BytesIO(data)) as im:
            return im.convert("RGB")


def fetch_wds(entry: dict, folder: Path) -> None:
    """Download the split and the metadata files of ``repo`` into ``folder`` (or say how)."""
    hint = wds_fetch_hint(entry, folder)
    if entry.get("path") or not entry.get("repo"):
        raise MllbenchError(f"dataset {entry['name']!r}: no shards in {folder}; {hint}")
    if offline() or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise MllbenchError(f"dataset {entry['name']!r}: not in {folder} and offline; fetch it with: {hint}")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise MllbenchError(f"dataset {entry['name']!r}: downloading needs huggingface_hub "
                            "(pip install 'mllbench[data]'), or fetch it with: " + hint) from exc
    split = entry.get("split", "test")
    try:
        snapshot_download(entry["repo"], repo_type="dataset", revision=entry.get("revision"),
                          allow_patterns=[f"{split}/*", *METADATA], local_dir=folder)
    except Exception as exc:  # noqa: BLE001 - the hub client raises many types; the user needs one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MllbenchError(f"dataset {entry['name']!r}: cannot download {entry['repo']} ({reason}); "
                            f"fetch it with: {hint}") from exc


def read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []


def load_wds(entry: dict, base_dir: Path) -> ListedDataset:
    folder = wds_dir(entry, base_dir)
    split_dir = folder / entry.get("split", "test")
    paths = shard_paths(split_dir)
    if paths is None:
        fetch_wds(entry, folder)
        paths = shard_paths(split_dir)
        if paths is None:  # the hub client falls back to an existing local folder when the hub is unreachable
            raise MllbenchError(f"dataset {entry['name']!r}: still no shards in {split_dir} after fetching "
                                f"{entry['repo']} (unreachable hub, or no split {split_dir.name!r}); "
                                f"fetch it with: {wds_fetch_hint(entry, folder)}")
    index = load_index(paths, split_dir, entry["name"])
    if entry.get("templates") == "clip_benchmark":
        templates = [t.replace("{c}", "{}") for t in read_lines(folder / METADATA[1]) if t]
        if not templates:
            raise MllbenchError(f"dataset {entry['name']!r}: `templates: clip_benchmark` but {folder / METADATA[1]} "
                                "is missing or empty")
        entry = {**entry, "templates": templates}
    items = [TarMember(paths[s], o, n) for s, o, n in zip(index["shard"].tolist(), index["offset"].tolist(),
                                                           index["size"].tolist())]
    return listed(entry, items, index["label"], TarMember.decode, read_lines(folder / METADATA[0]),
                  {"source": f"wds {entry.get('repo') or folder} ({split_dir.name}, {len(paths)} shards)",
                   "version": content_version(paths, index, entry.get("revision"))})


def content_version(paths: Sequence[Path], index: Mapping[str, np.ndarray], revision: str | None) -> str:
    """Changes with any sample's label or image size (tar sizes alone are padded to 10 KiB blocks)."""
    arrays = hashlib.sha256(b"".join(index[k].astype("<i8").tobytes() for k in ("shard", "size", "label")))
    return short_hash([p.name for p in paths], revision, arrays.hexdigest())


def locate_wds(entry: dict, base_dir: Path) -> ArtifactStatus:
    folder = wds_dir(entry, base_dir)
    paths = shard_paths(folder / entry.get("split", "test"))
    if paths is None:
        return ArtifactStatus(entry["name"], "dataset", False, str(folder), wds_fetch_hint(entry, folder),
                              entry.get("size_gb"))
    return ArtifactStatus(entry["name"], "dataset", True, str(folder), "", size_on_disk_gb(paths))


load_wds.locate = locate_wds


# --------------------------------------------------------- torchvision ----

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


@hookimpl
def register_dataset_sources(register):
    register("wds", load_wds)
    register("torchvision", load_torchvision)
