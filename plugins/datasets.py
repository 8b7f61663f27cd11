"""Built-in dataset sources, and what every dataset source of mllbench's shares (``ListedDataset``,
the data root, entry paths, class names checked against the labels).

``imagefolder``: ``root/<folder>/*.{png,jpg,jpeg,webp}`` (torchvision's
ImageFolder layout). Entry keys: ``root`` (relative to the benchmark file;
``{data_root}`` expands to the data root, see ``data_root``), either
``classes`` (a list of ``{"folder", "name", "wnid"}``) or ``classnames`` with
optional ``wnids`` and ``folders`` (default: the wnids, e.g. ImageNet's
``val/n01440764/``; without both, the sorted folder names are the class
names), ``domain``, ``task_type``, ``templates``, and for ``run --dry-run``
``size_gb`` and ``fetch`` (how to get the folder).

``corpus``: a task of an HDF5 image corpus plus a JSON split file (the
embedded benchmark's format, see ``load_corpus``).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mllbench.contract import (ArtifactStatus, cache_root, entry_info as task_info, hookimpl, MllbenchError,
                              TaskInfo)

EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".ppm"}


def data_root() -> Path:
    """Where public datasets live: ``MLLBENCH_DATA_ROOT`` (``mllbench --data-root``), else ~/.cache/mllbench/data."""
    return Path(os.environ["MLLBENCH_DATA_ROOT"]).expanduser() if os.environ.get("MLLBENCH_DATA_ROOT") \
        else cache_root() / "data"


def resolve_path(text: str, base_dir: Path) -> Path:
    """An entry's path: ``{data_root}`` expanded, ``~`` expanded, relative paths to the benchmark file."""
    path = Path(text.replace("{data_root}", str(data_root()))).expanduser()
    return path if path.is_absolute() else base_dir / path


@dataclass
class ListedDataset:
    """Images as a list of items (file paths, pixel arrays) decoded on demand."""

    info: TaskInfo
    items: Sequence[Any]
    label_array: np.ndarray
    decode: Callable[[Any], Any]  # item -> PIL.Image
    wnids: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        return self.label_array

    def image(self, index: int):
        return self.decode(self.items[index])


def read_file(path: Path):
    """An image file as RGB; any decoding failure is an OSError naming the file (the pipeline
    lists such images and leaves them out: ``mllbench.pipeline.evaluate.read_images``)."""
    from PIL import Image

    return decoded(lambda: Image.open(path), str(path))


def decoded(open_image: Callable[[], Any], name: str):
    """``open_image()`` converted to RGB, every PIL failure (truncated data, an empty file, not an
    image, a decompression bomb) raised as one OSError that names ``name``."""
    from PIL import Image

    try:
        with open_image() as im:
            return im.convert("RGB")
    except OSError as exc:
        raise OSError(f"{name}: {exc}") from exc
    except (SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:  # PIL's other ones
        raise OSError(f"{name}: {type(exc).__name__}: {exc}") from exc


def from_pixels(pixels: np.ndarray):
    from PIL import Image

    return Image.fromarray(pixels)


# -- helpers of the public-dataset sources (wds.py, torchvision_caches.py) -------------------------

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
    """A public dataset's ListedDataset: the class names the files give unless the entry names them."""
    full = with_classes(entry, found_names, labels)
    wnids = tuple(entry["wnids"]) if entry.get("wnids") else None
    return ListedDataset(task_info(full, full["classnames"]), items, labels.astype(np.int64), decode, wnids,
                         {"licence": entry.get("licence", "see the dataset's terms"), **metadata})


def short_hash(*parts: Any) -> str:
    """12 hex digits of any JSON-able parts: a dataset's version, an index folder's name."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def size_on_disk_gb(paths: Sequence[Path]) -> float:
    """What ``run --dry-run`` shows for files already fetched."""
    return round(sum(p.stat().st_size for p in paths if p.is_file()) / 1e9, 6)


def read_lines(path: Path) -> list[str]:
    """A text file's stripped lines; none when it is absent (optional metadata files)."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []



# -- imagefolder ----------------------------------------------------------------------------------

def folder_classes(entry: dict, root: Path) -> list[dict]:
    """The entry's classes as ``{"folder", "name"[, "wnid"]}`` in label order."""
    if entry.get("classes"):
        return entry["classes"]
    if "classnames" not in entry:
        return [{"folder": p.name, "name": p.name} for p in sorted(root.iterdir()) if p.is_dir()]
    names, wnids = entry["classnames"], entry.get("wnids")
    folders = entry.get("folders") or wnids
    if folders is None or len(folders) != len(names) or (wnids is not None and len(wnids) != len(names)):
        raise MllbenchError(f"dataset {entry['name']!r}: `classnames` needs `folders` or `wnids` of the same "
                            "length in the benchmark definition")
    return [{"folder": f, "name": n, **({"wnid": wnids[i]} if wnids else {})}
            for i, (f, n) in enumerate(zip(folders, names))]


def missing_folder_hint(entry: dict) -> str:
    hint = entry.get("fetch") or "create it with one sub-folder of images per class (or fix `root` / --data-root)"
    return hint.replace("{data_root}", str(data_root()))


def load_imagefolder(entry: dict, base_dir: Path) -> ListedDataset:
    root = resolve_path(entry["root"], base_dir)
    if not root.is_dir():
        raise MllbenchError(f"dataset {entry['name']!r}: folder {root} not found; {missing_folder_hint(entry)}")
    classes = folder_classes(entry, root)
    absent = [c["folder"] for c in classes if not (root / c["folder"]).is_dir()]
    if absent:
        raise MllbenchError(f"dataset {entry['name']!r}: {len(absent)} class folder(s) missing under {root} "
                            f"(first: {absent[0]}); {missing_folder_hint(entry)}")
    files, labels = [], []
    for c, cls in enumerate(classes):
        found = sorted(p for p in (root / cls["folder"]).iterdir() if p.suffix.lower() in EXTENSIONS)
        files += found
        labels += [c] * len(found)
    wnids = tuple(c.get("wnid", "") for c in classes) if any("wnid" in c for c in classes) else None
    listing = "\n".join(str(p.relative_to(root)) for p in files)
    version = hashlib.sha256(listing.encode()).hexdigest()[:12]
    return ListedDataset(task_info(entry, [c["name"] for c in classes]), files,
                         np.array(labels, dtype=np.int64), read_file, wnids,
                         {"source": f"imagefolder {root}", "version": version,
                          "licence": entry.get("licence", "see the dataset")})


def locate_imagefolder(entry: dict, base_dir: Path) -> ArtifactStatus:
    """For ``run --dry-run``: is the folder there (nothing is downloaded for an ImageFolder)."""
    root = resolve_path(entry["root"], base_dir)
    cached = root.is_dir() and any(p.is_dir() for p in root.iterdir())
    return ArtifactStatus(entry["name"], "dataset", cached, str(root), "" if cached else missing_folder_hint(entry),
                          entry.get("size_gb"))


load_imagefolder.locate = locate_imagefolder


@hookimpl
def register_dataset_sources(register):
    register("imagefolder", load_imagefolder)
    register("corpus", load_corpus)


@lru_cache(maxsize=64)
def _corpus_family(path: str, mtime_ns: int, family: str) -> np.ndarray:
    """One rendition family's images, read once per process (the embedded benchmark's tasks
    share six families: a cached run read each family once per task, ~0.3 s in all)."""
    import h5py

    with h5py.File(path, "r") as f:
        images = f[f"renditions/{family}/images"][:]
    images.flags.writeable = False  # shared between tasks
    return images


@lru_cache(maxsize=8)
def _split_file(path: str, mtime_ns: int) -> dict:
    """A split JSON, parsed once per process (every task of a benchmark reads the same one)."""
    return json.loads(Path(path).read_text())


@lru_cache(maxsize=8)
def _corpus_version(path: str, mtime_ns: int) -> str:
    import h5py

    with h5py.File(path, "r") as f:
        return str(f.attrs.get("version", ""))


def load_corpus(entry: dict, base_dir: Path) -> ListedDataset:
    """A task of an HDF5 image corpus with a JSON split file (see benchmarks/embedded).

    Entry keys: ``file`` (the corpus), ``splits`` (the split JSON), ``split``
    ("targets" or "samples") and ``name``, the task's name in that split.
    """
    corpus, splits = base_dir / entry["file"], base_dir / entry["splits"]
    if not corpus.exists() or not splits.exists():
        raise MllbenchError(f"dataset {entry['name']!r}: {corpus} or {splits} is missing; "
                            "reinstall mllbench or rebuild with benchmarks/embedded/build_corpus.py")
    spec = next((t for t in _split_file(str(splits), splits.stat().st_mtime_ns)[entry["split"]]
                 if t["name"] == entry["name"]), None)
    if spec is None:
        raise MllbenchError(f"task {entry['name']!r} is not in {splits}")
    items = [(family, int(i), c) for c, cls in enumerate(spec["classes"]) for family, i in cls["items"]]
    stat = corpus.stat()
    arrays = {family: _corpus_family(str(corpus), stat.st_mtime_ns, family) for family in {fam for fam, *_ in items}}
    pixels = np.stack([arrays[family][i] for family, i, _ in items]) if items else \
        np.zeros((0, 32, 32, 3), np.uint8)
    # the corpus' own version plus this task's item list: either changing invalidates caches
    version = f"{_corpus_version(str(corpus), stat.st_mtime_ns)}-{hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:12]}"
    wnids = tuple(c.get("wnid", "") for c in spec["classes"]) if entry["split"] == "samples" else None
    merged = {**spec, **entry}
    return ListedDataset(task_info(merged, [c["name"] for c in spec["classes"]]), pixels,
                         np.array([c for *_, c in items], dtype=np.int64), from_pixels, wnids,
                         {"source": f"{corpus.name} ({', '.join(sorted({f for f, *_ in items}))})",
                         "version": version, "licence": entry.get("licence", "see data/LICENSES.md")})
