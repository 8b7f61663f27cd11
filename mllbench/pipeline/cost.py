"""What a hub model costs to run, from its definition's metadata, and a hub restricted by cost;
what a whole run would cost on a GPU (``run --dry-run``: ``Throughput``, ``ModelWork``, ``cost_rows``).

GFLOPs per image of the image tower (the cost of reusing a model on an image; the text tower
runs once per class): ``gflops`` as measured for the embedded hub
(``benchmarks/embedded/make_definition.py``), else ``flops_b`` (billions of FLOPs, as the
mll-paper definition has them: image and text tower). The dry run's estimate prefers
``image_gflops`` (the image tower alone, from open_clip's model profile in mll-paper): labeling
and prediction run the image tower once per image. Parameters: ``params_m``, millions, the whole model.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from mllbench.core.types import MllbenchError
from mllbench.maths.mll import RIVALS, TOP_NODES, index_dtype


def model_metadata(models: Sequence[Mapping], *keys: str) -> dict[str, float]:
    """Each model's first numeric value among ``keys`` of its metadata; models with none left out."""
    out = {}
    for m in models:
        meta = m.get("metadata") or {}
        value = next((meta[k] for k in keys if isinstance(meta.get(k), (int, float))), None)
        if value is not None:
            out[m["id"]] = float(value)
    return out


def model_gflops(models: Sequence[Mapping]) -> dict[str, float]:
    """GFLOPs per image of each hub model that declares it (metadata ``gflops``, else ``flops_b``)."""
    return model_metadata(models, "gflops", "flops_b")


def model_params(models: Sequence[Mapping]) -> dict[str, float]:
    """Millions of parameters of each hub model that declares it (metadata ``params_m``)."""
    return model_metadata(models, "params_m")


def images_gflops(used: Sequence[Sequence[str]], gflops: Mapping[str, float]) -> float | None:
    """The mean over tasks of the GFLOPs an image passes through, given each task's reused models
    (the union over its classes: each runs once per image); None when a model's cost is unknown."""
    if not used or any(m not in gflops for models in used for m in models):
        return None
    return sum(sum(gflops[m] for m in models) for models in used) / len(used)


def within_budget(models: Sequence[Mapping], max_gflops: float | None = None,
                  max_params: float | None = None) -> tuple[list[int], str | None]:
    """(the hub indices whose cost is within the limits, a sentence on the models left out or None).

    A model whose cost a limit needs but its definition lacks is left out (and counted so);
    nothing left is a one-line error naming the cheapest model.
    """
    limits = [(name, limit, table(models), unit) for name, limit, table, unit in (
        ("--max-gflops", max_gflops, model_gflops, "GFLOPs/img"), ("--max-params", max_params, model_params,
                                                                   "M parameters")) if limit is not None]
    if not limits:
        return list(range(len(models))), None
    kept, unknown = [], 0
    for i, m in enumerate(models):
        costs = [values.get(m["id"]) for _, _, values, _ in limits]
        unknown += any(c is None for c in costs)
        if all(c is not None and c <= limit for c, (_, limit, _, _) in zip(costs, limits)):
            kept.append(i)
    asked = " and ".join(f"{name} {limit:g}" for name, limit, _, _ in limits)
    if not kept:
        cheapest = ", ".join(f"{min(values.values()):g} {unit}" if values else f"no model declares {unit}"
                             for _, _, values, unit in limits)
        raise MllbenchError(f"no hub model is within {asked} (the cheapest: {cheapest}); raise the limit")
    left = len(models) - len(kept)
    if not left:
        return kept, None
    return kept, (f"{left} of {len(models)} hub models left out by {asked}"
                  + (f" ({unknown} of them for an unknown cost)" if unknown else ""))


# --- what a run costs on a GPU (``run --dry-run``) ------------------------------------------------
# The default throughput: the effective rate (2 FLOPs per multiply-add x GMACs x images/s) of the
# hub's architectures as timm's image towers, in timm's own inference benchmark on one RTX 4090
# (amp, NCHW, batch 1024; 768 for convnext_base at 320 px): results/benchmark-infer-amp-nchw-pt240-
# cu124-rtx4090.csv of huggingface/pytorch-image-models, commit 5c33776a (2024-09-04).
# (timm model, images/s, GMACs per image)
TIMM_RTX4090 = (
    ("resnet50 (224 px, for RN50)", 4217.6, 4.11), ("vit_base_patch32_clip_224", 10127.52, 4.41),
    ("vit_base_patch16_clip_224", 2783.55, 17.58), ("eva02_base_patch16_clip_224", 1707.16, 17.62),
    ("convnext_base (320 px)", 1024.52, 31.39), ("vit_large_patch14_clip_224", 658.44, 81.08),
    ("eva02_large_patch14_clip_224", 422.17, 81.18), ("vit_large_patch14_clip_336", 291.64, 191.11),
    ("vit_huge_patch14_clip_224", 345.85, 167.4), ("vit_giant_patch14_clip_224", 224.09, 267.18),
    ("vit_gigantic_patch14_clip_224", 131.25, 483.96),
)
TIMM_TFLOPS = sorted(2 * gmacs * ips / 1000 for _, ips, gmacs in TIMM_RTX4090)
DEFAULT_TFLOPS = round(TIMM_TFLOPS[len(TIMM_TFLOPS) // 2], 1)  # the median: 97.9
DEFAULT_SOURCE = (f"the median effective rate of {len(TIMM_TFLOPS)} CLIP image towers in timm's RTX 4090 inference "
                  f"benchmark (amp, batch 1024; {TIMM_TFLOPS[0]:.0f}-{TIMM_TFLOPS[-1]:.0f} TFLOP/s, ResNet-50 the "
                  "lowest): images/s = rate / GFLOPs per image")

# A label's bytes beyond its embeddings, from its layout (pipeline/labeling.py): each (image, node)
# pair's rival counts (3 x uint8) and its rivals (the nodes ranking at or above the pair's node, at
# most RIVALS, uint16 up to 65,535 nodes, whose count pads), counted at the cap: an inner node's pairs have hundreds
# (three embedded-hub labels: 491-507 bytes per pair of the cap's 513; files of 7.00-7.18 MB where
# label_bytes gives 7.03); each image's TOP_NODES nodes and its reference's slot; each node's caption key.
IMAGE_BYTES, NODE_BYTES = 2 * TOP_NODES + 16, 40


def image_gflops(models: Sequence[Mapping]) -> dict[str, float]:
    """GFLOPs per image of each model's image tower (metadata ``image_gflops``, else ``gflops``, else
    the whole model's ``flops_b``): what labeling and prediction run per image."""
    return model_metadata(models, "image_gflops", "gflops", "flops_b")


def label_bytes(images: int, nodes: int, pairs: int, dim: int) -> int:
    """A label's size on disk, about: float16 embeddings of every graph image and node caption, the
    pairs' rivals at their cap, each image's top nodes and each node's caption key."""
    pair = 3 + RIVALS * np.dtype(index_dtype(nodes + 1)).itemsize  # nodes pads
    return (images + nodes) * dim * 2 + images * IMAGE_BYTES + nodes * NODE_BYTES + pairs * pair


@dataclass(frozen=True)
class Throughput:
    """The images/s an estimate assumes: a model's own measurement, else ``tflops`` (effective
    TFLOP/s) over its GFLOPs per image; ``device`` names what the hours are of."""

    tflops: float
    source: str
    device: str = "GPU"
    measured: Mapping[str, float] = field(default_factory=dict)

    def images_per_s(self, model_id: str, gflops: float | None) -> float | None:
        if model_id in self.measured:
            return self.measured[model_id]
        return None if gflops is None else self.tflops * 1000 / gflops

    @classmethod
    def parse(cls, value: str | None, gflops: Mapping[str, float]) -> "Throughput":
        """``--assume-throughput``: None (the default), effective TFLOP/s, or a rehearsal's throughput.json."""
        if value is None:
            return cls(DEFAULT_TFLOPS, DEFAULT_SOURCE)
        try:
            tflops = float(value)
        except ValueError:
            return cls.measurement(Path(value), gflops)
        if not 0 < tflops < 1e6:
            raise MllbenchError(f"--assume-throughput {value}: give a positive effective TFLOP/s, "
                                f"e.g. {DEFAULT_TFLOPS}")
        return cls(tflops, "--assume-throughput: images/s = rate / GFLOPs per image")

    @classmethod
    def measurement(cls, path: Path, gflops: Mapping[str, float]) -> "Throughput":
        """Labeling's images/s per model as ``benchmarks/perf/paper_rehearsal.py`` measured them one
        model at a time (``<work>/<size>/out/throughput.json``; ``gpu_check.sh`` on a GPU): measured
        models at their rate, the others at the median effective rate of those whose GFLOPs are known."""
        try:
            rows = json.loads(path.read_text())
            rows = rows["one_at_a_time"] if isinstance(rows, dict) else rows  # with the one-pass figures beside
            measured = {r["model"]: float(r["label_ips"]) for r in rows}
            devices = sorted({str(r.get("device", "?")).split(":")[0] for r in rows})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MllbenchError(f"--assume-throughput {path}: not effective TFLOP/s nor a readable throughput.json "
                                f"of benchmarks/perf/paper_rehearsal.py ({exc})") from exc
        rates = sorted(ips * gflops[m] / 1000 for m, ips in measured.items() if m in gflops)
        if not rates:
            raise MllbenchError(f"--assume-throughput {path}: none of its {len(measured)} models has GFLOPs in this "
                                "benchmark's definition; give effective TFLOP/s instead")
        device = {"cuda": "GPU"}.get(devices[0], devices[0].upper()) if len(devices) == 1 else "/".join(devices)
        return cls(rates[len(rates) // 2], f"{path}: labeling's images/s as the rehearsal measured them on "
                   f"{'/'.join(devices)} for its {len(measured)} models, the others at their median effective "
                   "rate over GFLOPs per image", device, measured)


@dataclass(frozen=True)
class ModelWork:
    """What a run would compute with one hub model: the images it would encode (None: unknown) in
    each part of the run, its image tower's GFLOPs per image and the size of its label."""

    model_id: str
    graph: int | None
    targets: int | None
    samples: int | None
    gflops: float | None
    label_gb: float | None

    @property
    def images(self) -> int | None:
        parts = (self.graph, self.targets, self.samples)
        return None if None in parts else sum(parts)

    def hours(self, throughput: Throughput) -> float | None:
        rate = throughput.images_per_s(self.model_id, self.gflops)
        images = self.images
        return None if images is None or rate is None else images / rate / 3600


def _cell(value: float | None, form: str) -> str:
    """A figure as ``form`` says (``sig``: three significant digits, no exponent); "?" for unknown."""
    if value is None:
        return "?"
    if form != "sig":
        return format(value, form)
    return f"{value:,.{max(0, 2 - math.floor(math.log10(value)))}f}" if value > 0 else "0"


def _total(values: Sequence[float | None], form: str) -> str:
    """A column's sum, ``+?`` after it where some values are unknown."""
    known = [v for v in values if v is not None]
    if not known:
        return "?"
    return _cell(sum(known), form) + ("+?" if len(known) < len(values) else "")


def cost_rows(works: Sequence[ModelWork], throughput: Throughput) -> tuple[list[str], list[list[str]]]:
    """The dry run's cost table: a row per model and a total row; "?" where a figure is unknown."""
    head = ["model", "graph", "targets", "samples", "images", "GFLOPs/img", f"{throughput.device} h", "label GB"]
    columns = [lambda w: w.graph, lambda w: w.targets, lambda w: w.samples, lambda w: w.images,
               lambda w: w.gflops, lambda w: w.hours(throughput), lambda w: w.label_gb]
    forms = [",", ",", ",", ",", "g", "sig", "sig"]
    body = [[w.model_id, *(_cell(get(w), form) for get, form in zip(columns, forms))] for w in works]
    total = ["total", *(_total([get(w) for w in works], form) for get, form in zip(columns, forms))]
    return head, [*body, total]
