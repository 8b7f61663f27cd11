"""What the rehearsal is made of: six Table 6 architectures, a slice of the mll-paper graph,
two of its target tasks, and how many generated images each gets (``quick``, ``full``, ``gpu``).

Every name comes from ``benchmarks/mll-paper.json``: model ids (architecture/tag), the
ImageNet classes (wnids) whose hypernym closure is the graph, the sample datasets'
entries (``imagenet1k``: wnid folders; ``imagenetv2``: clip-benchmark shards) and the
targets' (``pets``: a torchvision cache; ``food101``: clip-benchmark shards). Only the
images (generated) and the weights (random) are not the paper's.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

PAPER = Path(__file__).resolve().parents[1] / "mll-paper.json"
NAME = "mll-paper-rehearsal"
RANDOM = "RANDOM WEIGHTS"
BANNER = (f"===== REHEARSAL WITH {RANDOM}: every accuracy, score, ranking and selection below is "
          "meaningless (only shapes, formats, memory and speed are real) =====")

# one architecture per family of Table 6, by id (architecture/tag) as in mll-paper.json
ARCHITECTURES = ("RN50/openai", "ViT-B-32/openai", "coca_ViT-B-32/laion2b_s13b_b90k",
                 "EVA02-B-16/merged2b_s8b_b131k", "ViT-B-16-plus-240/laion400m_e31",
                 "convnext_base_w_320/laion_aesthetic_s13b_b82k")
# ImageNet classes from ten branches of WordNet (fish, dogs, cat, ungulate, artefacts, fruit):
# their hypernym closure is 77 WordNet nodes; the first four give 33
SAMPLE_WNIDS = ("n01443537", "n02085620", "n02099601", "n02123045", "n02391049",
                "n02708093", "n03085013", "n03637318", "n03930630", "n07742313")
# (width, height): ImageNet's common shapes first, then larger photos up to 5 MP
PIXELS = ((500, 375), (375, 500), (500, 333), (500, 500), (333, 500), (500, 375), (640, 480),
          (500, 281), (1024, 768), (800, 1200), (1600, 1200), (2592, 1944))


@dataclass(frozen=True)
class Size:
    """How much of everything a run generates and uses."""

    name: str
    models: tuple[str, ...]
    sample_classes: int  # the first of SAMPLE_WNIDS
    imagenet_per_class: int  # imagenet1k (wnid folders)
    v2_per_class: int  # imagenetv2 (shards)
    images_per_node: int  # the graph's cap per node
    target_classes: int  # the first classes of pets and food101
    target_per_class: int
    predict_per_class: int  # a user's folder for `predict`, three of the sample classes

    def key(self) -> str:
        """What the generated data depends on (the models do not change it)."""
        return json.dumps({k: v for k, v in asdict(self).items() if k not in ("name", "models")}, sort_keys=True)


SIZES = {
    "quick": Size("quick", ARCHITECTURES[:3], sample_classes=4, imagenet_per_class=2, v2_per_class=1,
                  images_per_node=3, target_classes=3, target_per_class=2, predict_per_class=1),
    "full": Size("full", ARCHITECTURES, sample_classes=10, imagenet_per_class=3, v2_per_class=2,
                 images_per_node=4, target_classes=5, target_per_class=3, predict_per_class=3),
    # for a GPU: enough graph images for several batches of 64 (benchmarks/perf/gpu_check.sh)
    "gpu": Size("gpu", ARCHITECTURES, sample_classes=10, imagenet_per_class=24, v2_per_class=8,
                images_per_node=12, target_classes=5, target_per_class=24, predict_per_class=3),
}


def paper_entries() -> dict[str, dict]:
    """The mll-paper definition's models, samples and targets by id or name."""
    data = json.loads(PAPER.read_text())
    return {**{m["id"]: m for m in data["models"]}, **{d["name"]: d for d in data["samples"] + data["targets"]}}
