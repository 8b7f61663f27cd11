"""Generated JPEGs in the formats the paper's datasets come in.

Decoding cost depends on pixels and on what a JPEG holds, so the images are
photo-like: a smooth random colour field, a few hard-edged shapes and sensor-like
noise, saved at quality 90 (a 500x375 one is ~80 KB; ImageNet averages ~110 KB), in
ImageNet's common shapes and a few larger photos up to 5 MP. Written as:

- ``imagenet/val/<wnid>/ILSVRC2012_val_*.JPEG``: the ImageNet validation tree
  (source ``imagefolder``);
- ``wds/<name>/``: clip-benchmark's webdataset snapshot (``classnames.txt``,
  ``test/nshards.txt``, ``test/0.tar`` ... with ``s0000000.jpg`` + ``s0000000.cls``
  members, source ``wds``);
- ``torchvision/oxford-iiit-pet/``: the files torchvision's OxfordIIITPet leaves
  (``annotations/test.txt``, ``images/*.jpg``; source ``torchvision``);
- ``predict/<class>/``: a user's folder of images for ``mllbench predict``.

Deterministic (seeded per image, fixed tar metadata) and cached: a folder whose
``manifest.json`` matches the size's key is reused.
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .spec import PIXELS, SAMPLE_WNIDS, Size, paper_entries

MTIME = 1_700_000_000  # fixed tar member times: the same shards, byte for byte, on every machine
PETS_CATS = {"Abyssinian", "Bengal", "Birman", "Bombay", "British Shorthair", "Egyptian Mau", "Maine Coon",
             "Persian", "Ragdoll", "Russian Blue", "Siamese", "Sphynx"}


def picture(seed: Sequence[int]) -> bytes:
    """One photo-like JPEG of one of PIXELS' shapes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(list(seed))
    width, height = PIXELS[int(rng.integers(len(PIXELS)))]
    field = rng.integers(0, 256, (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3), dtype=np.uint8)
    image = Image.fromarray(field).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        x, y = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 10, width // 2), rng.integers(height // 10, height // 2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((int(x), int(y), int(x + w), int(y + h)), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-24, 25, (height, width, 3), dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def class_images(dataset: int, n_classes: int, per_class: int) -> Iterator[tuple[int, int, bytes]]:
    """(class, index within class, JPEG) for a dataset's images, seeded by (dataset, class, index)."""
    for c in range(n_classes):
        for i in range(per_class):
            yield c, i, picture((dataset, c, i))


def write_imagefolder(root: Path, wnids: Sequence[str], per_class: int) -> int:
    count = 0
    for c, i, jpeg in class_images(1, len(wnids), per_class):
        path = root / wnids[c] / f"ILSVRC2012_val_{c * per_class + i + 1:08d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg)
        count += 1
    return count


def tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uname, info.gname = len(data), MTIME, 0o444, "bigdata", "bigdata"
    tar.addfile(info, io.BytesIO(data))


def write_wds(root: Path, dataset: int, classnames: Sequence[str], per_class: int, shards: int = 2) -> int:
    """A clip-benchmark snapshot: samples in label order, split over ``shards`` tars."""
    samples = list(class_images(dataset, len(classnames), per_class))
    (root / "test").mkdir(parents=True, exist_ok=True)
    (root / "classnames.txt").write_text("\n".join(classnames) + "\n")
    (root / "zeroshot_classification_templates.txt").write_text("a photo of a {c}.\n")
    (root / "test" / "nshards.txt").write_text(f"{shards}\n")
    per_shard = -(-len(samples) // shards)
    for s in range(shards):
        with tarfile.open(root / "test" / f"{s}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
            for k in range(s * per_shard, min(len(samples), (s + 1) * per_shard)):
                label, _, jpeg = samples[k]
                tar_member(tar, f"s{k:07d}.jpg", jpeg)
                tar_member(tar, f"s{k:07d}.cls", str(label).encode())
    return len(samples)


def write_pets(root: Path, classnames: Sequence[str], per_class: int) -> int:
    """torchvision's OxfordIIITPet test split: ``<breed>_<n>.jpg`` (cats capitalised, dogs lower
    case, as in the real files) and ``annotations/test.txt`` (image, class id, species, breed id)."""
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "annotations").mkdir(parents=True, exist_ok=True)
    lines, breed_ids = [], {1: 0, 2: 0}
    species = [1 if name in PETS_CATS else 2 for name in classnames]
    breed = []
    for s in species:
        breed_ids[s] += 1
        breed.append(breed_ids[s])
    for c, i, jpeg in class_images(3, len(classnames), per_class):
        stem = classnames[c].replace(" ", "_")
        stem = f"{stem if species[c] == 1 else stem.lower()}_{i + 1}"
        (base / "images" / f"{stem}.jpg").write_bytes(jpeg)
        lines.append(f"{stem} {c + 1} {species[c]} {breed[c]}")
    (base / "annotations" / "test.txt").write_text("\n".join(lines) + "\n")
    return len(lines)


def write_predict(root: Path, classnames: Sequence[str], per_class: int) -> int:
    count = 0
    for c, i, jpeg in class_images(5, len(classnames), per_class):
        (root / classnames[c]).mkdir(parents=True, exist_ok=True)
        (root / classnames[c] / f"photo_{i + 1}.jpg").write_bytes(jpeg)
        count += 1
    return count


def layout(size: Size) -> dict:
    """The class names each dataset gets, from mll-paper.json."""
    paper = paper_entries()
    imagenet = paper["imagenet1k"]
    names = dict(zip(imagenet["wnids"], imagenet["classnames"]))
    wnids = list(SAMPLE_WNIDS[:size.sample_classes])
    return {"wnids": wnids, "sample_names": [names[w] for w in wnids],
            "pets": paper["pets"]["classnames"][:size.target_classes],
            "food101": paper["food101"]["classnames"][:size.target_classes],
            "predict": [names[w] for w in wnids[:3]]}


def ensure(size: Size, folder: Path, log: Callable[[str], None] = print) -> dict:
    """The size's data in ``folder`` (generated unless its manifest matches); returns the manifest."""
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("key") == size.key():
            return manifest
    shutil.rmtree(folder, ignore_errors=True)
    log(f"  generating JPEGs -> {folder}")
    names = layout(size)
    counts = {
        "imagenet1k": write_imagefolder(folder / "imagenet" / "val", names["wnids"], size.imagenet_per_class),
        "imagenetv2": write_wds(folder / "wds" / "imagenetv2", 2, names["sample_names"], size.v2_per_class),
        "pets": write_pets(folder / "torchvision", names["pets"], size.target_per_class),
        "food101": write_wds(folder / "wds" / "food101", 4, names["food101"], size.target_per_class),
        "predict": write_predict(folder / "predict", names["predict"], size.predict_per_class),
    }
    jpegs = [p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")]
    shard_bytes = sum(p.stat().st_size for p in folder.rglob("*.tar"))
    manifest = {"key": size.key(), "names": names, "counts": counts,
                "bytes": sum(p.stat().st_size for p in jpegs) + shard_bytes}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest
