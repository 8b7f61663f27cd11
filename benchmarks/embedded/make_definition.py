"""Write benchmarks/embedded.json, the embedded benchmark's definition, from its data and hub.

Each hub model's ``imagenet_acc`` is its zero-shot top-1 accuracy on the
``emojione-cartoon`` sample dataset (626 WordNet classes): this benchmark's
stand-in for ImageNet, which in the paper is likewise one of the sample
datasets. INB uses it; nothing else is measured on the target tasks here.

    python benchmarks/embedded/make_definition.py
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

GENERAL = "emojione-cartoon"


def task_entry(task: dict, split: str) -> dict:
    entry = {"name": task["name"], "source": "corpus", "file": "embedded/data/corpus.h5",
             "splits": "embedded/data/splits.json", "split": split, "domain": task["domain"],
             "task_type": task["task_type"], "classnames": [c["name"] for c in task["classes"]],
             "templates": ["a photo of {}."]}
    families = sorted({item[0] for c in task["classes"] for item in c["items"]})
    entry["licence"] = f"{', '.join(families)} — see embedded/data/LICENSES.md"
    return entry


def image_gflops(model) -> float:
    """GFLOPs of one 32-px image through the image tower (torch's FLOP counter: a multiply-add is
    2 FLOPs), the cost of reusing the model on an image; the text tower runs once per class."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    size = model.model.visual.image_size
    size = size if isinstance(size, int) else size[0]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.model.encode_image(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def main() -> None:
    import numpy as np

    from mllbench.pipeline.evaluate import zero_shot
    from mllbench.plugins.datasets import load_corpus
    from mllbench.plugins.openclip_provider import load_open_clip

    splits = json.loads((HERE / "data" / "splits.json").read_text())
    samples = [task_entry(t, "samples") for t in splits["samples"]]
    targets = [task_entry(t, "targets") for t in splits["targets"]]
    general = load_corpus(next(s for s in samples if s["name"] == GENERAL), HERE.parent)
    models = []
    for d in sorted((HERE / "hub").iterdir()):
        record = json.loads((d / "training.json").read_text())
        args = {"model": f"local-dir:embedded/hub/{d.name}", "text_tower": record["text_tower"].split()[0]}
        model = load_open_clip(args, HERE.parent)
        sims = zero_shot(model, general)
        acc = float(np.mean(sims.argmax(1) == general.labels()))
        print(f"{d.name}: {GENERAL} zero-shot top-1 {acc:.4f}", file=sys.stderr)
        models.append({"id": d.name, "provider": "open_clip", "args": args, "metadata": {
            "imagenet_acc": round(acc, 4), "architecture": record["architecture"],
            "description": record["description"], "trained_on": ", ".join(record["families"]) + " / "
            + ", ".join(record["categories"]), "n_train_images": record["n_images"],
            "params_m": round(record["total_params"] / 1e6, 2),
            "vision_params_m": round(record["vision_params"] / 1e6, 3),
            "gflops": round(image_gflops(model), 4)}})
    definition = {
        "name": "embedded",
        "description": "Offline CPU benchmark: 9 small open_clip models (image towers aligned to a frozen "
                       "MiniLM text tower) trained on emoji art and digits; 11 target tasks on other "
                       "renditions; a WordNet graph from OpenMoji, EmojiOne and digit renditions.",
        "models": models, "samples": samples, "targets": targets,
        "graph": {"images_per_node": 75, "seed": 0},
        "defaults": {"embedder": "minilm", "captioner": "template"},
        "notes": {"imagenet_acc": f"zero-shot top-1 on the {GENERAL} sample dataset (ImageNet stand-in)",
                  "gflops": "GFLOPs of one 32-px image through the image tower (torch.utils.flop_counter)"},
    }
    (HERE.parent / "embedded.json").write_text(json.dumps(definition, indent=1) + "\n")


if __name__ == "__main__":
    main()
