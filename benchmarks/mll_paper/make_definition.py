"""Write benchmarks/mll-paper.json, the paper's benchmark (Tan et al., Sec. 5.1, Tables 5-6).

Inputs, all read here and nothing downloaded:
- the MLL authors' released files (MIT; a copy of their ``MLL/`` folder's
  ``pretrained.json``, ``model_hub_info.csv``, ``datasets.json`` and the
  class-name files, vendored in benchmarks/reference/mll; see README.md):
  the 49 hub models with Table 6's params / FLOPs / ImageNet accuracy, each
  target's class names and the domain / task strings their code prompted GPT
  with;
- timm's ImageNet synset lists (``timm/data/_info``) and open_clip's
  ImageNet class names (the OpenAI names), for the five sample datasets.

Class names are the authors' (what the paper evaluated with), put in the
label order of the data sources (the clip-benchmark webdataset shards, see
plugins/public_datasets.py); where the authors' files are in another order
(their ImageFolder exports sort folder names) the order is restored below.
CLEVR-D and DMLab use clip_benchmark's names instead: the authors' DMLab file
is a copy of their CLEVR-D file, and their CLEVR-D names cannot be aligned
with the dataset's distance bins (README.md).

    python benchmarks/mll_paper/make_definition.py [--reference DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from importlib.util import find_spec
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_REFERENCE = HERE.parents[1] / "benchmarks" / "reference" / "mll"  # the vendored copy, see its README.md
TEMPLATES = ["a photo of {}."]  # Sec. 5.2
# Checkpoints assumed stored in half precision on the hub (EVA's releases are fp16); the others float32.
FP16_CHECKPOINTS = {"EVA01-g-14", "EVA02-B-16", "EVA02-L-14-336", "EVA02-E-14"}

# name, Table 5 dataset, Table 5 domain, Table 5 task, authors' file stem, source keys, test images, size GB
TARGETS = [
    ("cifar100", "CIFAR100", "natural picture", "image classification", "CIFAR100",
     {"repo": "clip-benchmark/wds_vtab-cifar100"}, 10000, 0.03),
    ("country211", "Country211", "natural picture", "geo-localization", "Country211",
     {"repo": "clip-benchmark/wds_country211"}, 21100, 3.7),
    ("clevr_closest_object_distance", "CLEVR-D", "natural picture", "object distance estimation",
     "clevr_closest_object_distance", {"repo": "clip-benchmark/wds_vtab-clevr_closest_object_distance"}, 15000, 1.5),
    ("dtd", "DTD", "texture picture", "image classification", "DTD",
     {"repo": "clip-benchmark/wds_vtab-dtd"}, 1880, 0.2),
    ("dmlab", "DMLab", "natural picture", "object distance estimation", "dmlab",
     {"repo": "clip-benchmark/wds_vtab-dmlab"}, 22735, 0.6),
    ("flowers", "Flowers102", "flower picture", "image classification", "Flowers102",
     {"repo": "clip-benchmark/wds_vtab-flowers"}, 6149, 0.3),
    ("mnist", "MNIST", "digit picture", "image classification", "MNIST",
     {"repo": "clip-benchmark/wds_mnist"}, 10000, 0.02),
    ("pets", "OxfordIIITPet", "pet photograph", "image classification", "OxfordIIITPet",
     {"repo": "clip-benchmark/wds_vtab-pets"}, 3669, 0.4),
    ("pcam", "PCam", "medical picture", "image classification", "PCAM",
     {"repo": "clip-benchmark/wds_vtab-pcam"}, 32768, 0.6),
    ("fer2013", "FER2013", "facial picture", "facial expression classification", "FER2013",
     {"repo": "clip-benchmark/wds_fer2013"}, 7178, 0.01),
    ("food101", "Food101", "food picture", "image classification", "Food101",
     {"repo": "clip-benchmark/wds_food101"}, 25250, 1.4),
    ("gtsrb", "GTSRB", "traffic picture", "image classification", "GTSRB",
     {"repo": "clip-benchmark/wds_gtsrb"}, 12630, 0.2),
    ("resisc45", "RESISC45", "satellite picture", "land cover classification", "resisc45",
     {"repo": "clip-benchmark/wds_vtab-resisc45"}, 6300, 0.4),
    ("renderedsst2", "Rendered SST2", "text picture", "optical character recognition", "RenderedSST2",
     {"repo": "clip-benchmark/wds_renderedsst2"}, 1821, 0.1),
    ("cars", "StanfordCars", "car picture", "image classification", "StanfordCars",
     {"repo": "clip-benchmark/wds_cars"}, 8041, 1.0),
    ("stl10", "STL10", "natural picture", "image classification", "STL10",
     {"repo": "clip-benchmark/wds_stl10"}, 8000, 0.1),
    ("ucf101", "UCF101", "video frame", "action recognition", "UCF101",
     {"source": "imagefolder", "root": "{data_root}/ucf101/UCF-101-midframes",
      "fetch": "extract the middle frame of each UCF101 test video (split 1, as CLIP did), "
               "one folder per class"}, 3783, 0.1),
]
# name, Table 5 dataset, domain, task, authors' key in datasets.json, source keys, test images, size GB, synsets
SAMPLES = [
    ("imagenet1k", "ImageNet", "natural picture", "image classification", "ImageNet",
     {"source": "imagefolder", "root": "{data_root}/imagenet/val",
      "fetch": "download ILSVRC2012_img_val.tar from image-net.org (login), sorted into one folder "
               "per wnid"}, 50000, 6.4, "imagenet_synsets.txt"),
    ("imagenetv2", "ImageNet-V2", "natural picture", "image classification", "imagenet_v2",
     {"repo": "clip-benchmark/wds_imagenetv2"}, 10000, 1.2, "imagenet_synsets.txt"),
    ("imagenet_sketch", "ImageNet-Sketch", "Sketch picture", "image classification", "imagenet-sketch",
     {"repo": "clip-benchmark/wds_imagenet_sketch"}, 50889, 8.4, "imagenet_synsets.txt"),
    ("imagenet-a", "ImageNet-A", "natural picture", "image classification", "imagenet_a",
     {"repo": "clip-benchmark/wds_imagenet-a"}, 7500, 0.7, "imagenet_a_synsets.txt"),
    ("imagenet-r", "ImageNet-R", "15 domain picture (e.g., art, cartoon)", "image classification", "imagenet_r",
     {"repo": "clip-benchmark/wds_imagenet-r"}, 30000, 2.1, "imagenet_r_synsets.txt"),
]

# Label orders the authors' alphabetical (ImageFolder) files lost: Flowers102's image labels
# (CLIP's list, with the authors' spellings) and GTSRB's ClassId 0-42.
FLOWERS_ORDER = [
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold",
    "tiger lily", "moon orchid", "bird of paradise", "monkshood", "globe thistle", "snapdragon", "colt's foot",
    "king protea", "spear thistle", "yellow iris", "globe-flower", "purple coneflower", "peruvian lily",
    "balloon flower", "giant white arum lily", "fire lily", "pincushion flower", "fritillary", "red ginger",
    "grape hyacinth", "corn poppy", "prince of wales feathers", "stemless gentian", "artichoke",
    "sweet william", "carnation", "garden phlox", "love in the mist", "mexican aster", "alpine sea holly",
    "ruby-lipped cattleya", "cape flower", "great masterwort", "siam tulip", "lenten rose", "barbeton daisy",
    "daffodil", "sword lily", "poinsettia", "bolero deep blue", "wallflower", "marigold", "buttercup",
    "oxeye daisy", "common dandelion", "petunia", "wild pansy", "primula", "sunflower", "pelargonium",
    "bishop of llandaff", "gaura", "geranium", "orange dahlia", "pink-yellow dahlia", "cautleya spicata",
    "japanese anemone", "black-eyed susan", "silverbush", "californian poppy", "osteospermum",
    "spring crocus", "bearded iris", "windflower", "tree poppy", "gazania", "azalea", "water lily", "rose",
    "thorn apple", "morning glory", "passion flower", "lotus lotus", "toad lily", "anthurium", "frangipani",
    "clematis", "hibiscus", "columbine", "desert-rose", "tree mallow", "magnolia", "cyclamen", "watercress",
    "canna lily", "hippeastrum", "bee balm", "ball moss", "foxglove", "bougainvillea", "camellia", "mallow",
    "mexican petunia", "bromelia", "blanket flower", "trumpet creeper", "blackberry lily"]
GTSRB_ORDER = [
    "20kph Speed limit", "30kph Speed limit", "50kph Speed limit", "60kph Speed limit", "70kph Speed limit",
    "80kph Speed limit", "End of 80kph speed limit", "100kph Speed limit", "120kph Speed limit", "No passing",
    "No passing for vehicles over 3.5 tons", "Right-of-way at the next intersection", "Priority road", "Yield",
    "Stop", "No vehicles", "Vechiles over 3.5 tons prohibited", "No entry", "General caution",
    "Dangerous curve to the left", "Dangerous curve to the right", "Double curve", "Bumpy road",
    "Slippery road", "Road narrows on the right side", "Road work", "Traffic signals", "Pedestrians",
    "Children crossing", "Bicycles crossing", "Beware of ice or snow", "Wild animals crossing",
    "End of all speed and passing limits", "Turn right ahead", "Turn left ahead", "Ahead only",
    "Go straight or right", "Go straight or left", "Keep right", "Keep left", "Roundabout mandatory",
    "End of no passing", "End of no passing by vehicles over 3.5 tons"]
# clip_benchmark 1.6.2 en_classnames.json, in VTAB's label order (its CLEVR bin 3 is named "")
CLIP_BENCHMARK_NAMES = {
    "clevr_closest_object_distance": ["very nearby", "nearby", "near", "", "distant", "very distant"],
    "dmlab": ["nearby apple/melon", "far apple/melon", "very far apple/melon", "nearby lemon", "far lemon",
              "very far lemon"],
}
LABEL_ORDER = {"flowers": FLOWERS_ORDER, "gtsrb": GTSRB_ORDER}
# Columns of open_clip's published zero-shot table (another protocol: prompt ensembles), for
# `leaderboard --truth openclip` (mllbench/reference.py); it has no DMLab, FER2013 or UCF101.
OPENCLIP_COLUMNS = {
    "cifar100": "CIFAR-100", "country211": "Country211", "clevr_closest_object_distance": "CLEVR Distance",
    "dtd": "Describable Textures", "flowers": "Oxford Flowers-102", "mnist": "MNIST", "pets": "Oxford-IIIT Pet",
    "pcam": "PatchCamelyon", "food101": "Food-101", "gtsrb": "GTSRB", "resisc45": "RESISC45",
    "renderedsst2": "Rendered SST2", "cars": "Stanford Cars", "stl10": "STL-10", "imagenet1k": "ImageNet 1k",
    "imagenetv2": "ImageNet v2", "imagenet_sketch": "ImageNet Sketch", "imagenet-a": "ImageNet-A",
    "imagenet-r": "ImageNet-R"}


def read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def target_classnames(name: str, released: list[str]) -> list[str]:
    """The authors' names in the source's label order (see the module docstring)."""
    if name in CLIP_BENCHMARK_NAMES:
        return CLIP_BENCHMARK_NAMES[name]
    order = LABEL_ORDER.get(name)
    if order is None:
        return released
    if sorted(order) != sorted(released):
        raise SystemExit(f"{name}: the label order table does not hold the released class names")
    return order


def source_keys(keys: dict) -> dict:
    """Entry keys of a dataset source (helper data's schema): webdataset shards unless given."""
    return {"source": "wds", **keys, "split": "test"} if "repo" in keys else dict(keys)


def models(reference: Path) -> list[dict]:
    """The 49 hub models in Table 6's order, with its metadata."""
    pairs = json.loads((reference / "pretrained.json").read_text())
    with open(reference / "model_hub_info.csv", newline="") as fh:
        rows = {(r["name"], r["pretrained"]): r for r in csv.DictReader(fh)}
    out = []
    for i, (arch, tag) in enumerate(pairs, 1):
        row = rows[(arch, tag)]
        params = float(row["params (M)"])
        out.append({"id": f"{arch}/{tag}", "provider": "open_clip", "args": {"model": arch, "pretrained": tag},
                    "metadata": {"table6_id": i, "params_m": params, "flops_b": float(row["FLOPs (B)"]),
                                 "imagenet_acc": float(row["ImageNet"]),
                                 "download_gb": round(params * (2 if arch in FP16_CHECKPOINTS else 4) / 1000, 2)}})
    return out


def targets(reference: Path) -> list[dict]:
    code = json.loads((reference / "datasets.json").read_text())["target_dataset"]
    out = []
    for name, dataset, domain, task, stem, keys, n_test, size in TARGETS:
        released = read_lines(reference / "classnames" / f"{stem}.txt")
        classnames = target_classnames(name, released)
        entry = {"name": name, "dataset": dataset, **source_keys(keys), "classnames": classnames,
                 "domain": domain, "task_type": task, "templates": TEMPLATES, "n_test": n_test, "size_gb": size,
                 "mll_code": {"name": stem, "domain": code[stem]["domain"], "task_type": code[stem]["task"]}}
        if entry.get("source") == "imagefolder":
            entry["folders"] = released  # the authors' class folders are the original UCF101 class names
        if classnames != released:
            entry["mll_code"]["classnames"] = released
        if name in OPENCLIP_COLUMNS:
            entry["reference"] = {"openclip": OPENCLIP_COLUMNS[name]}
        out.append(entry)
    return out


def samples(reference: Path) -> list[dict]:
    """The sample datasets: OpenAI's ImageNet class names, aligned with the synsets of each set."""
    from mllbench.plugins.openclip_provider import import_open_clip

    open_clip = import_open_clip()
    info = Path(find_spec("timm").origin).parent / "data" / "_info"
    in1k = read_lines(info / "imagenet_synsets.txt")
    names = dict(zip(in1k, open_clip.IMAGENET_CLASSNAMES, strict=True))
    code = json.loads((reference / "datasets.json").read_text())["sample_dataset"]
    code_key = {k.lower().replace("-", "_"): k for k in code}
    out = []
    for name, dataset, domain, task, key, keys, n_test, size, synsets in SAMPLES:
        wnids = read_lines(info / synsets)
        stem = code_key[key.lower().replace("-", "_")]
        out.append({"name": name, "dataset": dataset, **source_keys(keys), "classnames": [names[w] for w in wnids],
                    "wnids": wnids, "domain": domain, "task_type": task, "templates": TEMPLATES,
                    "n_test": n_test, "size_gb": size,
                    "mll_code": {"name": stem, "domain": code[stem]["domain"], "task_type": code[stem]["task"]},
                    "reference": {"openclip": OPENCLIP_COLUMNS[name]}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                        help="copy of the MLL authors' release (pretrained.json, model_hub_info.csv, "
                             "datasets.json, classnames/)")
    reference = parser.parse_args().reference
    definition = {
        "name": "mll-paper",
        "description": "The MLL paper's benchmark (Tan et al., Sec. 5.1): 49 open_clip models (Table 6), "
                       "17 target tasks and 5 ImageNet sample datasets (Table 5); GPT-4 captions and "
                       "text-embedding-3-large as in the paper. Needs the data and the weights (see "
                       "`mllbench run --dry-run`); a GPU is advised.",
        "models": models(reference), "targets": targets(reference), "samples": samples(reference),
        "graph": {"images_per_node": 75, "seed": 0},
        "defaults": {"captioner": "gpt", "embedder": "openai"},
        "notes": {
            "models": "Table 6 (the authors' model_hub_info.csv, open_clip's published numbers); "
                      "download_gb = params x 4 bytes (x 2 for the EVA checkpoints, assumed fp16), approximate",
            "classnames": "the authors' released class names in each source's label order; CLEVR-D and DMLab: "
                          "clip_benchmark's (mll_code.classnames holds the authors' files); samples: OpenAI's "
                          "ImageNet names with timm's synset lists",
            "domain": "Table 5; mll_code holds the strings of the authors' datasets.json, which their GPT "
                      "prompts (and released captions) used",
            "defaults": "the paper's GPT-4 captions and text-embedding-3-large (OPENAI_API_KEY); "
                        "--captioner template --embedder minilm runs without a key",
            "licences": "every dataset under its own terms; mllbench ships none of their images",
            "source": "the MLL authors' release (MIT, github.com/LAMDASZ-ML/MLL), see "
                      "benchmarks/mll_paper/README.md",
        },
    }
    (HERE.parent / "mll-paper.json").write_text(json.dumps(definition, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {HERE.parent / 'mll-paper.json'}: {len(definition['models'])} models, "
          f"{len(definition['targets'])} targets, {len(definition['samples'])} samples", file=sys.stderr)


if __name__ == "__main__":
    main()
