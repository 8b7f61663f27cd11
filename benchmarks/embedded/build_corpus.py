"""Build the embedded benchmark's image corpus (data/corpus.h5 + data/splits.json).

Run once by the maintainers, offline, from registry packages; the outputs are
committed, so users need neither apt nor npm. Sources (versions used):

    Debian   ruby-gemojione 3.3.0-1        EmojiOne art, PNG 64x64      CC-BY-SA-4.0 art
    npm      emoji-datasource-google 16.0.0 Google Noto art, PNG 64x64   Apache-2.0
    npm      @twemoji/svg 15.0.0           Twemoji SVG                  CC-BY-4.0
    npm      openmoji 17.0.0               OpenMoji SVG + openmoji.json CC-BY-SA-4.0
    npm      fluentui-emoji 1.3.0          Fluent flat/modern/high-contrast SVG   MIT
    PyPI     scikit-learn (load_digits)    UCI optdigits 8x8            BSD-3 / CC-BY-4.0

Usage (downloads into a scratch dir with apt-get download / npm pack):
    python benchmarks/embedded/build_corpus.py --scratch /tmp/emb

Splits (no artwork crosses splits for a concept; see data/README.md):
    train   (hub models)        Google + Twemoji renditions, digits i % 3 == 0
    samples (model labeling)    OpenMoji ("sketch"), EmojiOne (no flags), digits i % 3 == 1
    targets (evaluation)        Fluent flat / modern / high-contrast, EmojiOne flags, digits i % 3 == 2
"""
from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = 32
NPM = ["openmoji@17.0.0", "emoji-datasource-google@16.0.0", "fluentui-emoji@1.3.0", "@twemoji/svg@15.0.0"]
DEB = ["ruby-gemojione"]
FLUENT_STYLES = ("flat", "modern", "high-contrast")


def fetch(scratch: Path) -> None:
    """apt-get download + npm pack into ``scratch`` (build time only)."""
    scratch.mkdir(parents=True, exist_ok=True)
    if not (scratch / "x").exists():
        subprocess.run(["apt-get", "download", *DEB], cwd=scratch, check=True)
        for deb in scratch.glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), "x"], cwd=scratch, check=True)
    if not (scratch / "n").exists():
        subprocess.run(["npm", "pack", *NPM], cwd=scratch, check=True, capture_output=True)
        for tgz in scratch.glob("*.tgz"):
            out = scratch / "n" / tgz.name[:-4]
            out.mkdir(parents=True)
            subprocess.run(["tar", "xzf", str(tgz), "-C", str(out)], check=True)


def norm_code(code: str) -> str:
    """Code point sequence key: lower-case hex, '-' joined, without FE0F."""
    return "-".join(p for p in code.lower().split("-") if p != "fe0f")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def flatten(im: Image.Image, scale: float = 1.0, background=(255, 255, 255), dx: int = 0) -> np.ndarray:
    """RGBA/RGB -> SIZE x SIZE RGB uint8, glyph scaled and composited on ``background``."""
    im = im.convert("RGBA")
    side = max(1, round(SIZE * scale))
    glyph = im.resize((side, side), Image.LANCZOS)
    canvas = Image.new("RGBA", (SIZE, SIZE), background + (255,))
    offset = ((SIZE - side) // 2 + dx, (SIZE - side) // 2)
    canvas.alpha_composite(glyph, offset)
    return np.asarray(canvas.convert("RGB"), dtype=np.uint8)


def svg(path: Path) -> Image.Image | None:
    import cairosvg

    if not path.exists():
        return None
    png = cairosvg.svg2png(url=str(path), output_width=128, output_height=128)
    return Image.open(io.BytesIO(png))


def png(path: Path) -> Image.Image | None:
    return Image.open(path) if path.exists() else None


def concepts(scratch: Path) -> list[dict]:
    """One concept per base emoji of emoji-datasource, named by its CLDR annotation."""
    ed = json.loads((scratch / "n/emoji-datasource-google-16.0.0/package/emoji.json").read_text())
    om = json.loads((scratch / "n/openmoji-17.0.0/package/data/openmoji.json").read_text())
    annotation = {norm_code(e["hexcode"]): e["annotation"] for e in om}
    out = []
    for e in sorted(ed, key=lambda e: e["sort_order"]):
        if e["category"] == "Component":
            continue
        key = norm_code(e["unified"])
        name = annotation.get(key, e["name"].lower())
        out.append({"key": key, "unified": e["unified"], "name": name, "image": e["image"],
                    "category": e["category"], "subcategory": e["subcategory"]})
    return out


def renditions(scratch: Path, table: list[dict]) -> dict[str, dict[int, Image.Image]]:
    """Every family's glyph per concept index (missing ones are skipped)."""
    n = scratch / "n"
    gem = next((scratch / "x").rglob("gemojione-3.3.0/assets/png"))
    om = {norm_code(e["hexcode"]): e["hexcode"]
          for e in json.loads((n / "openmoji-17.0.0/package/data/openmoji.json").read_text())}
    fams: dict[str, dict[int, Image.Image]] = {}
    loaders = {
        "google": lambda c: png(n / "emoji-datasource-google-16.0.0/package/img/google/64" / c["image"]),
        "twemoji": lambda c: svg(n / "twemoji-svg-15.0.0/package" / f"{c['key']}.svg")
        or svg(n / "twemoji-svg-15.0.0/package" / f"{c['unified'].lower()}.svg"),
        "openmoji": lambda c: svg(n / "openmoji-17.0.0/package/color/svg" / f"{om.get(c['key'], '?')}.svg"),
        "emojione": lambda c: png(gem / f"{c['unified'].upper()}.png") or png(gem / f"{c['key'].upper()}.png"),
    }
    for style in FLUENT_STYLES:
        loaders[f"fluent-{style}"] = (lambda s: lambda c: svg(
            n / "fluentui-emoji-1.3.0/package/icons" / s / f"{slug(c['name'])}.svg"))(style)
    for family, load in loaders.items():
        fams[family] = {}
        for i, c in enumerate(table):
            if family.startswith("fluent") and c["category"] == "Flags":
                continue
            im = load(c)
            if im is not None:
                fams[family][i] = im
        print(f"{family}: {len(fams[family])} glyphs", file=sys.stderr)
    return fams


def wordnet_id(name: str) -> str:
    """The first noun sense of an emoji name (or of its head noun), if any."""
    sys.path.insert(0, str(HERE.parents[1]))
    from mllbench.wordnet import wordnet, wnid_of

    wn = wordnet()
    name = name.split(":")[0].strip().lower()
    candidates = [name, re.sub(r" face$", "", name)]
    words = name.split()
    if 1 < len(words) <= 3 and not name.endswith("face"):
        candidates.append(words[-1])
    for cand in candidates:
        senses = wn.synsets(cand.replace(" ", "_").replace("-", "_"), pos="n")
        if senses and senses[0].lexname() != "noun.Tops":
            return wnid_of(senses[0])
    return ""


# target tasks drawn from Fluent renditions: (name, domain, task type, subcategories, classes)
FLUENT_TASKS = [
    ("animals", "cartoon emoji picture", "image classification",
     {"animal-mammal", "animal-bird", "animal-marine", "animal-bug", "animal-reptile", "animal-amphibian"}, 30),
    ("food", "cartoon food picture", "image classification",
     {"food-fruit", "food-vegetable", "food-prepared", "food-sweet", "food-asian", "food-marine", "drink"}, 30),
    ("vehicles", "cartoon transport picture", "image classification",
     {"transport-ground", "transport-air", "transport-water"}, 25),
    ("plants", "cartoon plant picture", "image classification", {"plant-flower", "plant-other"}, 15),
    ("weather", "cartoon sky and weather picture", "image classification", {"sky & weather"}, 20),
    ("objects", "cartoon object picture", "image classification",
     {"tool", "household", "office", "book-paper", "light & video", "computer", "musical-instrument"}, 30),
    ("sports", "cartoon sport picture", "image classification", {"sport", "game"}, 20),
    ("signs", "sign picture", "sign recognition", {"transport-sign", "warning", "zodiac", "religion"}, 25),
]
EXPRESSIONS = {  # facial expression -> CLDR names of the emoji that show it
    "angry": ["angry face", "enraged face", "face with symbols on mouth"],
    "disgusted": ["nauseated face", "face vomiting", "confounded face"],
    "fearful": ["fearful face", "face screaming in fear", "anxious face with sweat"],
    "happy": ["grinning face", "grinning face with big eyes", "beaming face with smiling eyes",
              "smiling face with smiling eyes"],
    "sad": ["crying face", "loudly crying face", "disappointed face", "pensive face"],
    "surprised": ["astonished face", "face with open mouth", "hushed face"],
    "neutral": ["neutral face", "expressionless face"],
}
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TARGET_VARIANTS = [dict(), dict(scale=0.75, background=(235, 235, 235))]
FLAG_VARIANTS = [dict(), dict(scale=0.8), dict(scale=0.7, background=(225, 225, 225)), dict(scale=0.9, dx=2)]


class Builder:
    """Accumulates rendition rows per family and split specs."""

    def __init__(self, table: list[dict]):
        self.table = table
        self.rows: dict[str, list[tuple[np.ndarray, int]]] = {}

    def add(self, family: str, pixels: np.ndarray, concept: int) -> list:
        rows = self.rows.setdefault(family, [])
        rows.append((pixels, concept))
        return [family, len(rows) - 1]


def build(scratch: Path, out: Path) -> dict:
    from sklearn.datasets import load_digits

    table = concepts(scratch)
    fams = renditions(scratch, table)
    for i, c in enumerate(table):
        c["wnid"] = wordnet_id(c["name"]) if c["category"] != "Flags" else wordnet_id(c["name"].split(": ")[-1])
    digit_base = len(table)
    table += [{"key": f"digit-{d}", "name": d, "category": "Digits", "subcategory": "digit",
               "wnid": wordnet_id(d)} for d in DIGITS]
    b = Builder(table)
    splits: dict = {"train": {}, "samples": [], "targets": []}
    # --- train: Google + Twemoji, and a third of the digits
    for family in ("google", "twemoji"):
        splits["train"][family] = [b.add(family, flatten(im), i)[1] for i, im in sorted(fams[family].items())]
    digits = load_digits()
    digit_img = [(np.clip(16 - d, 0, 16) * 255 / 16).astype(np.uint8) for d in digits.images]

    def digit_pixels(k: int) -> np.ndarray:
        return np.asarray(Image.fromarray(digit_img[k]).resize((SIZE, SIZE), Image.BILINEAR).convert("RGB"))

    splits["train"]["digits"] = [b.add("digits", digit_pixels(k), digit_base + int(digits.target[k]))[1]
                                 for k in range(len(digit_img)) if k % 3 == 0]
    # --- samples: OpenMoji, EmojiOne (without flags), a third of the digits; classes are synsets
    for family, name, domain, skip_flags in (("openmoji", "openmoji-sketch", "sketch emoji picture", False),
                                             ("emojione", "emojione-cartoon", "cartoon emoji picture", True)):
        by_wnid: dict[str, list] = {}
        names: dict[str, str] = {}
        for i, im in sorted(fams[family].items()):
            c = table[i]
            if not c["wnid"] or (skip_flags and c["category"] == "Flags"):
                continue
            by_wnid.setdefault(c["wnid"], []).append(b.add(family, flatten(im), i))
            names.setdefault(c["wnid"], c["name"].split(": ")[-1])
        splits["samples"].append({"name": name, "domain": domain, "task_type": "image classification",
                                  "classes": [{"name": names[w], "wnid": w, "items": items}
                                              for w, items in sorted(by_wnid.items())]})
    sample_digits = {d: [] for d in range(10)}
    for k in range(len(digit_img)):
        if k % 3 == 1:
            sample_digits[int(digits.target[k])].append(b.add("digits", digit_pixels(k), digit_base + int(digits.target[k])))
    splits["samples"].append({"name": "digits-sample", "domain": "handwritten digit picture",
                              "task_type": "image classification",
                              "classes": [{"name": DIGITS[d], "wnid": table[digit_base + d]["wnid"], "items": items}
                                          for d, items in sample_digits.items()]})
    # --- targets
    def fluent_items(i: int) -> list:
        items = []
        for style in FLUENT_STYLES:
            im = fams[f"fluent-{style}"].get(i)
            if im is not None:
                items += [b.add(f"fluent-{style}", flatten(im, **v), i) for v in TARGET_VARIANTS]
        return items

    for name, domain, task_type, subcats, n_classes in FLUENT_TASKS:
        classes, seen = [], set()
        for i, c in enumerate(table[:digit_base]):
            label = c["name"]
            if c["subcategory"] not in subcats or ":" in label or label in seen:
                continue
            if sum(i in fams[f"fluent-{s}"] for s in FLUENT_STYLES) < 2:
                continue
            seen.add(label)
            classes.append({"name": label, "items": fluent_items(i)})
            if len(classes) == n_classes:
                break
        splits["targets"].append({"name": name, "domain": domain, "task_type": task_type, "classes": classes})
    index = {c["name"]: i for i, c in enumerate(table[:digit_base])}
    splits["targets"].append({"name": "expressions", "domain": "cartoon face picture",
                              "task_type": "facial expression classification",
                              "classes": [{"name": e, "items": [it for n in names for it in fluent_items(index[n])]}
                                          for e, names in EXPRESSIONS.items()]})
    flags = []
    for i, c in enumerate(table[:digit_base]):
        if c["subcategory"] == "country-flag" and i in fams["emojione"] and c["wnid"]:
            flags.append({"name": c["name"].split(": ")[-1],
                          "items": [b.add("emojione-flags", flatten(fams["emojione"][i], **v), i) for v in FLAG_VARIANTS]})
    splits["targets"].append({"name": "flags", "domain": "flag picture", "task_type": "geo-localization",
                              "classes": flags[:40]})
    target_digits = {d: [] for d in range(10)}
    for k in range(len(digit_img)):
        if k % 3 == 2:
            target_digits[int(digits.target[k])].append(b.add("digits", digit_pixels(k), digit_base + int(digits.target[k])))
    splits["targets"].append({"name": "digits", "domain": "handwritten digit picture", "task_type": "image classification",
                              "classes": [{"name": DIGITS[d], "items": items} for d, items in target_digits.items()]})
    write(out, b, table, splits)
    return splits


def write(out: Path, b: Builder, table: list[dict], splits: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    string = h5py.string_dtype("utf-8")
    tmp = out / "corpus.h5.tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["version"] = "1"
        for family, rows in sorted(b.rows.items()):
            g = f.create_group(f"renditions/{family}")
            g.create_dataset("images", data=np.stack([r[0] for r in rows]), compression="gzip",
                             compression_opts=9, shuffle=True, chunks=(min(len(rows), 256), SIZE, SIZE, 3))
            g.create_dataset("concept", data=np.array([r[1] for r in rows], np.int32))
            g.create_dataset("names", data=np.array([table[r[1]]["name"] for r in rows], dtype=object), dtype=string)
        f.create_dataset("concepts/name", data=np.array([c["name"] for c in table], dtype=object), dtype=string)
        f.create_dataset("concepts/wnid", data=np.array([c["wnid"] for c in table], dtype=object), dtype=string)
        f.create_dataset("concepts/category", data=np.array([c["category"] for c in table], dtype=object), dtype=string)
    tmp.replace(out / "corpus.h5")
    (out / "splits.json").write_text(json.dumps(splits, separators=(",", ":")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/emb"))
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    fetch(args.scratch)
    splits = build(args.scratch, args.out)
    print("train:", {k: len(v) for k, v in splits["train"].items()})
    for part in ("samples", "targets"):
        for t in splits[part]:
            print(part, t["name"], len(t["classes"]), "classes,", sum(len(c["items"]) for c in t["classes"]), "images")
    print("corpus.h5:", (args.out / "corpus.h5").stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
