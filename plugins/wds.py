"""The ``wds`` dataset source: CLIP_benchmark webdataset snapshots (``clip_benchmark`` 1.6's
``build_wds_dataset`` layout), read from the tar files themselves::

    <snapshot>/classnames.txt, zeroshot_classification_templates.txt
    <snapshot>/<split>/nshards.txt, 0.tar, 1.tar, ...   members s0000000.webp|jpg|png + s0000000.cls

Entry keys (besides those of every public source, ``public_datasets.py``): ``repo`` (Hugging
Face dataset repo, e.g. ``clip-benchmark/wds_vtab-cifar100``), ``split`` (default ``test``),
``revision`` (default ``main``), ``path`` (a local snapshot folder; ``{data_root}`` expands;
default ``{data_root}/wds/<repo>``), and ``templates: "clip_benchmark"`` for the snapshot's own
templates. The tar members are indexed once (offsets, labels) into
``<split>/.mllbench-index.npz``, written atomically and reused while the shards are unchanged;
images decode on demand. Downloads go through ``huggingface_hub.snapshot_download``, imported
only then.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from mllbench.contract import ArtifactStatus, MllbenchError, atomic_file, offline
from mllbench.plugins.datasets import (ListedDataset, data_root, decoded, listed, read_lines, resolve_path,
                                       short_hash, size_on_disk_gb)

IMAGE_EXTS = ("webp", "jpg", "jpeg", "png")  # the image members clip_benchmark writes and reads
METADATA = ("classnames.txt", "zeroshot_classification_templates.txt", "dataset_type.txt")
INDEX_NAME = ".mllbench-index.npz"
INDEX_VERSION = 1


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
        return decoded(lambda: Image.open(io.BytesIO(data)), f"{self.path}@{self.offset}")


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
