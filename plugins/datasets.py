"""Built-in dataset sources.

``imagefolder``: ``root/<folder>/*.{png,jpg,jpeg,webp}`` (torchvision's
ImageFolder layout). Entry keys: ``root`` (relative to the benchmark file),
``classes`` (optional list of ``{"folder", "name", "wnid"}``; default: the
sorted folder names are the class names), ``domain``, ``task_type``,
``templates``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mllbench.hookspecs import hookimpl
from mllbench.types import MllbenchError, TaskInfo

EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def task_info(entry: dict, classnames: list[str]) -> TaskInfo:
    """TaskInfo from a benchmark entry (shared by every source)."""
    return TaskInfo(entry["name"], tuple(classnames), entry.get("domain", "natural picture"),
                    entry.get("task_type", "image classification"),
                    tuple(entry.get("templates", ["a photo of {}."])))


@dataclass
class FileDataset:
    """Images listed as files, decoded on demand."""

    info: TaskInfo
    files: list[Path]
    label_array: np.ndarray
    wnids: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.files)

    def labels(self) -> np.ndarray:
        return self.label_array

    def image(self, index: int):
        from PIL import Image

        with Image.open(self.files[index]) as im:
            return im.convert("RGB")


def load_imagefolder(entry: dict, base_dir: Path) -> FileDataset:
    root = Path(entry["root"])
    root = root if root.is_absolute() else base_dir / root
    if not root.is_dir():
        raise MllbenchError(f"dataset {entry['name']!r}: folder {root} not found; "
                            "check `root` in the benchmark definition or the data root")
    classes = entry.get("classes") or [{"folder": p.name, "name": p.name}
                                       for p in sorted(root.iterdir()) if p.is_dir()]
    files, labels = [], []
    for c, cls in enumerate(classes):
        found = sorted(p for p in (root / cls["folder"]).iterdir() if p.suffix.lower() in EXTENSIONS)
        files += found
        labels += [c] * len(found)
    wnids = tuple(c.get("wnid", "") for c in classes) if any("wnid" in c for c in classes) else None
    listing = "\n".join(str(p.relative_to(root)) for p in files)
    version = hashlib.sha256(listing.encode()).hexdigest()[:12]
    return FileDataset(task_info(entry, [c["name"] for c in classes]), files,
                       np.array(labels, dtype=np.int64), wnids,
                       {"source": f"imagefolder {root}", "version": version,
                        "licence": entry.get("licence", "see the dataset")})


@hookimpl
def register_dataset_sources(register):
    register("imagefolder", load_imagefolder)
