"""Build the embedded benchmark's image corpus (data/corpus.h5 + data/splits.json).

Run once by the maintainers, offline, from registry packages; the outputs are
committed, so users need neither apt nor npm. Build-time tools: apt-get
download + dpkg -x, npm pack, and in Python: numpy, Pillow, h5py, cairosvg
2.9.1, scikit-learn 1.9.1. WordNet is read straight from Debian's
`wordnet-base` (Princeton WordNet 3.0, fetched into the scratch dir like the
other packages; its full glosses, examples included, pick flag synsets), no nltk.

Sources (exact versions used):

    Debian  ruby-gemojione 3.3.0-1          EmojiOne art, PNG 64x64 + index.json      CC-BY-SA-4.0 art
    npm     emoji-datasource-google 16.0.0  Google Noto art, PNG 64x64 + emoji.json   Apache-2.0 (data MIT)
    npm     @twemoji/svg 15.0.0             Twemoji SVG                               CC-BY-4.0
    npm     openmoji 17.0.0                 OpenMoji SVG + openmoji.json              CC-BY-SA-4.0
    npm     fluentui-emoji 1.3.0            Fluent flat / modern / high-contrast SVG  MIT
    npm     flag-icons 7.5.0                country flags SVG, 4x3 and 1x1            MIT
    npm     svg-country-flags 1.2.10        country flags SVG                         public domain
    PyPI    scikit-learn 1.9.1 load_digits  UCI optdigits, 1,797 8x8 images           CC-BY-4.0 data, BSD code

Checked and not used: Debian ruby-tanuki-emoji 0.6.0-2 and fonts-noto-color-emoji
ship the same Google Noto artwork as emoji-datasource-google (tanuki vs. Google at
32 px: mean absolute pixel difference about 1/255), so they cannot serve as a
separate (target) family.

Usage (fetches into a scratch dir with apt-get download / npm pack, if absent):
    python benchmarks/embedded/build_corpus.py --scratch /tmp/emb

Splits -- every rendition family feeds exactly one split (digits: disjoint rows):
    train   (hub models)      google, twemoji, digits (rows k % 3 == 0 of load_digits)
    samples (model labeling)  openmoji, emojione, digits (rows k % 3 == 1)
                              (classes = WordNet 3.0 noun synsets)
    targets (evaluation)      fluent-flat, fluent-modern, fluent-high-contrast,
                              flagicons-4x3, flagicons-1x1, countryflags,
                              digits (rows k % 3 == 2)
"""
from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = 32
NPM = {  # package spec -> directory name npm pack gives its tarball
    "openmoji@17.0.0": "openmoji-17.0.0",
    "emoji-datasource-google@16.0.0": "emoji-datasource-google-16.0.0",
    "fluentui-emoji@1.3.0": "fluentui-emoji-1.3.0",
    "@twemoji/svg@15.0.0": "twemoji-svg-15.0.0",
    "flag-icons@7.5.0": "flag-icons-7.5.0",
    "svg-country-flags@1.2.10": "svg-country-flags-1.2.10",
}
# Debian package -> (version, a file whose presence under scratch/x means it is unpacked)
DEB = {"ruby-gemojione": ("3.3.0-1", "gemojione-3.3.0"), "wordnet-base": ("1:3.0-37", "data.noun")}
FLUENT_STYLES = ("flat", "modern", "high-contrast")
FAMILY_SPLIT = {
    "google": "train", "twemoji": "train",
    "openmoji": "samples", "emojione": "samples",
    "fluent-flat": "targets", "fluent-modern": "targets", "fluent-high-contrast": "targets",
    "flagicons-4x3": "targets", "flagicons-1x1": "targets", "countryflags": "targets",
    "digits": "train+samples+targets (rows k % 3 == 0 train, 1 samples, 2 targets)",
}


# ----------------------------------------------------------------------------- fetching
def fetch(scratch: Path) -> None:
    """apt-get download + dpkg -x, npm pack + tar into ``scratch`` (build time only)."""
    scratch.mkdir(parents=True, exist_ok=True)
    for pkg, (version, marker) in DEB.items():
        if (scratch / "x").exists() and any((scratch / "x").rglob(marker)):
            continue
        subprocess.run(["apt-get", "download", f"{pkg}={version}"], cwd=scratch, check=True)
        for deb in sorted(scratch.glob(f"{pkg}_*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), "x"], cwd=scratch, check=True)
    for spec, dirname in NPM.items():
        out = scratch / "n" / dirname
        if out.exists():
            continue
        subprocess.run(["npm", "pack", spec], cwd=scratch, check=True, capture_output=True)
        out.mkdir(parents=True)
        subprocess.run(["tar", "xzf", str(scratch / f"{dirname}.tgz"), "-C", str(out)], check=True)


# ----------------------------------------------------------------------------- images
def norm_code(code: str) -> str:
    """Code point sequence key: lower-case hex, '-' joined, without FE0F."""
    return "-".join(p for p in code.lower().split("-") if p != "fe0f")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def flatten(im: Image.Image, scale: float = 1.0, background=(255, 255, 255), dx: int = 0, dy: int = 0) -> np.ndarray:
    """Image -> SIZE x SIZE RGB uint8: fitted (aspect kept) into scale*SIZE, centred
    (+dx, dy), alpha-composited on ``background``."""
    im = im.convert("RGBA")
    box = max(1, round(SIZE * scale))
    w, h = im.size
    f = box / max(w, h)
    tw, th = max(1, round(w * f)), max(1, round(h * f))
    glyph = im.resize((tw, th), Image.LANCZOS)
    canvas = Image.new("RGBA", (SIZE, SIZE), tuple(background) + (255,))
    canvas.alpha_composite(glyph, ((SIZE - tw) // 2 + dx, (SIZE - th) // 2 + dy))
    return np.asarray(canvas.convert("RGB"), dtype=np.uint8)


def svg(path: Path) -> Image.Image | None:
    import cairosvg

    if not path.exists():
        return None
    png = cairosvg.svg2png(url=str(path), output_width=128)  # height follows the aspect ratio
    return Image.open(io.BytesIO(png))


def png(path: Path) -> Image.Image | None:
    return Image.open(path) if path.exists() else None


# ----------------------------------------------------------------------------- WordNet 3.0
LEXNAMES = {3: "Tops", 4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body", 9: "cognition",
            10: "communication", 11: "event", 12: "feeling", 13: "food", 14: "group", 15: "location",
            16: "motive", 17: "object", 18: "person", 19: "phenomenon", 20: "plant", 21: "possession",
            22: "process", 23: "quantity", 24: "relation", 25: "shape", 26: "state", 27: "substance", 28: "time"}


class WordNet:
    """Minimal reader of Princeton WordNet 3.0 noun files: lemma -> senses, lexname."""

    def __init__(self, root: Path):
        self.senses: dict[str, list[str]] = {}
        for line in (root / "index.noun").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split()
            n_syn = int(parts[2])
            self.senses[parts[0]] = [f"n{o}" for o in parts[-n_syn:]]
        self.lex: dict[str, str] = {}
        self.lemma: dict[str, str] = {}
        self.gloss: dict[str, str] = {}
        for line in (root / "data.noun").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split(" ", 5)
            self.lex[f"n{parts[0]}"] = LEXNAMES.get(int(parts[1]), "?")
            self.lemma[f"n{parts[0]}"] = parts[4]
            self.gloss[f"n{parts[0]}"] = line.split(" | ", 1)[-1].strip()

    def lookup(self, word: str) -> list[str]:
        word = word.strip().lower()
        for key in (word.replace(" ", "_"), word.replace(" ", "_").replace("-", "_")):
            if key in self.senses:
                return self.senses[key]
        return []


# preferred lexnames, in priority order, per emoji subcategory / category prefix (first match wins)
PREFER = [("animal-", ("animal",)), ("plant-", ("plant", "food")), ("food-", ("food", "plant")),
          ("drink", ("food", "artifact", "substance")), ("dishware", ("artifact",)),
          ("Flags", ("location", "group")), ("place-", ("location", "artifact", "object")),
          ("transport-", ("artifact",)), ("sky & weather", ("object", "phenomenon", "artifact")),
          ("Activities", ("artifact", "act", "event")), ("Objects", ("artifact", "substance")),
          ("Symbols", ("communication", "artifact", "shape")), ("body-parts", ("body", "artifact")),
          ("People & Body", ("person", "body", "artifact")), ("Smileys & Emotion", ("body", "artifact", "feeling")),
          ("Travel & Places", ("artifact", "location", "object", "phenomenon")), ("Digits", ("quantity", "communication"))]
# head nouns too generic or too ambiguous to stand for a multi-word emoji name
HEAD_STOP = {"button", "sign", "symbol", "mark", "suit", "loop", "chart", "food", "arrow", "face", "emblem",
             "badge", "square", "circle", "triangle", "diamond", "heart", "hand", "finger", "person", "man", "woman"}
# for head nouns of people names, only people and body parts
HEAD_PREFER = {"People & Body": ("person", "body"), "Symbols": (), "Smileys & Emotion": ("body", "artifact")}
COUNTRY_WORDS = ("republic", "kingdom", "country", "monarchy", "sultanate", "principality", "nation", "state",
                 "island", "territory", "possession", "commonwealth", "federation", "emirate", "dependency")
# a few names whose first sense in a preferred lexname is still not what is drawn
OVERRIDE = {"mouse": "n02330245", "computer mouse": "n03793489", "bat": "n02139199", "crane": "n02012849",
            "seal": "n02076196", "tiger": "n02129604", "lion": "n02129165", "turkey": "n01794158",
            "chicken": "n01791625", "glass": "n03438257", "duck": "n01846331", "bear": "n02131653", "ant": "n02219486",
            "bee": "n02206856", "glasses": "n04272054", "pen": "n03906997", "key": "n03613294",
            "bank": "n02787622", "bow": "n02879718", "ring": "n04092609", "fan": "n03271574",
            "nut": "n07747951"}


def preferred(category: str, subcategory: str) -> tuple[str, ...]:
    for prefix, lexes in PREFER:
        if subcategory.startswith(prefix) or category.startswith(prefix):
            return lexes
    return ()


def pick(wn: WordNet, senses: list[str], want: tuple[str, ...], flags: bool = False) -> str:
    """The most frequent sense in the best-ranked preferred lexname ("" if none)."""
    if flags:  # a country, not its capital city of the same name (Djibouti, Singapore, ...)
        countries = [s for s in senses if wn.lex[s] == "location" and any(w in wn.gloss[s].lower() for w in COUNTRY_WORDS)]
        if countries:
            return countries[0]
    for lex in want:
        for s in senses:
            if wn.lex[s] == lex:
                return s
    return ""


def wordnet_id(wn: WordNet, name: str, category: str, subcategory: str) -> str:
    """The WordNet noun synset drawn by an emoji named ``name`` (CLDR English), or "".

    Candidates in order: the whole name, the name without " face", a naive singular,
    then (names of 2-3 words, not "X and Y" / "X with Y") the head noun. For each,
    the most frequent sense (first in index.noun) in the best-ranked lexicographer
    file that suits the emoji's category; if none fits anywhere, an exact lemma falls
    back to its most frequent sense, a head noun never does. noun.Tops never.
    """
    name = name.lower().strip()
    if name in OVERRIDE:
        return OVERRIDE[name]
    want = preferred(category, subcategory)
    words = name.split()
    cands = [(name, True)]
    if name.endswith(" face"):
        cands.append((name[: -len(" face")], False))
    if name.endswith("s") and not name.endswith("ss"):
        cands.append((name[:-1], True))
    if 1 < len(words) <= 3 and not name.endswith("face") and not {"and", "with", "of"} & set(words):
        cands.append((words[-1], False))
    for cand, whole in cands:
        if cand in OVERRIDE:
            return OVERRIDE[cand]
        senses = [s for s in wn.lookup(cand) if wn.lex[s] != "Tops"]
        if not whole and (cand in HEAD_STOP or category in HEAD_PREFER):
            if cand in HEAD_STOP:
                continue
            got = pick(wn, senses, HEAD_PREFER[category])
        else:
            got = pick(wn, senses, want, flags=category == "Flags")
        if got:
            return got
    for cand, whole in cands:  # no suitable sense anywhere: an exact lemma's most frequent sense
        senses = [s for s in wn.lookup(cand) if wn.lex[s] != "Tops"]
        if senses and whole:
            return senses[0]
    return ""


# ----------------------------------------------------------------------------- concepts
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
        out.append({"key": key, "unified": e["unified"], "name": name, "source_name": e["name"],
                    "image": e["image"], "category": e["category"], "subcategory": e["subcategory"]})
    return out


def renditions(scratch: Path, table: list[dict]) -> dict[str, dict[int, tuple[Image.Image, str]]]:
    """Every emoji family's (glyph, source name) per concept index; missing ones skipped."""
    n = scratch / "n"
    gem_root = next((scratch / "x").rglob("gemojione-3.3.0"))
    gem_png = gem_root / "assets/png"
    gem_name = {v["unicode"].upper(): v["name"] for v in json.loads((gem_root / "config/index.json").read_text()).values()}
    om = {norm_code(e["hexcode"]): (e["hexcode"], e["annotation"])
          for e in json.loads((n / "openmoji-17.0.0/package/data/openmoji.json").read_text())}
    tw = n / "twemoji-svg-15.0.0/package"

    def twemoji(c):
        for stem in (c["key"], c["unified"].lower()):
            im = svg(tw / f"{stem}.svg")
            if im is not None:
                return im, stem  # Twemoji files are named by code point only
        return None

    def emojione(c):
        for code in (c["unified"].upper(), c["key"].upper()):
            im = png(gem_png / f"{code}.png")
            if im is not None:
                return im, gem_name.get(code, "")
        return None

    def openmoji(c):
        hexcode, annotation = om.get(c["key"], ("?", ""))
        im = svg(n / "openmoji-17.0.0/package/color/svg" / f"{hexcode}.svg")
        return (im, annotation) if im is not None else None

    def google(c):
        im = png(n / "emoji-datasource-google-16.0.0/package/img/google/64" / c["image"])
        return (im, c["source_name"]) if im is not None else None

    loaders = {"google": google, "twemoji": twemoji, "openmoji": openmoji, "emojione": emojione}
    for style in FLUENT_STYLES:
        def fluent(c, style=style):
            stem = slug(c["name"])
            im = svg(n / "fluentui-emoji-1.3.0/package/icons" / style / f"{stem}.svg")
            return (im, stem) if im is not None else None
        loaders[f"fluent-{style}"] = fluent
    fams: dict[str, dict[int, tuple[Image.Image, str]]] = {}
    for family, load in loaders.items():
        fams[family] = {}
        for i, c in enumerate(table):
            if family.startswith("fluent") and c["category"] in ("Flags", "People & Body"):
                continue  # Fluent has no flags; people are not needed for the target tasks
            if family.startswith("fluent") and not any(c["subcategory"] in t[3] for t in FLUENT_TASKS) \
                    and c["name"] not in EXPRESSION_NAMES:
                continue
            got = load(c)
            if got is not None:
                fams[family][i] = got
        print(f"  {family}: {len(fams[family])} glyphs", file=sys.stderr)
    return fams


# ----------------------------------------------------------------------------- task specs
# target tasks drawn from Fluent renditions: (name, domain, task type, subcategories, max classes)
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
    ("signs", "flat sign icon", "sign recognition", {"transport-sign", "warning", "zodiac", "religion"}, 25),
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
    "sleepy": ["sleepy face", "sleeping face", "yawning face"],
    "confused": ["confused face", "face with raised eyebrow", "face with monocle"],
}
EXPRESSION_NAMES = {n for names in EXPRESSIONS.values() for n in names}
# flags -> country: 40 widely known countries (ISO 3166-1 alpha-2), in this order
FLAG_CODES = ["ar", "au", "at", "be", "br", "ca", "cl", "cn", "co", "cz", "dk", "eg", "fi", "fr", "de", "gr",
              "in", "id", "ie", "il", "it", "jp", "ke", "mx", "nl", "nz", "ng", "no", "pk", "pl", "pt", "ru",
              "sa", "za", "kr", "es", "se", "ch", "tr", "gb"]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# deterministic mild variants of a target image: scale, background, offset (real pixels, no noise)
TARGET_VARIANTS = [dict(), dict(scale=0.75, background=(235, 235, 235), dx=2, dy=-1)]
FLAG_VARIANTS = [dict(scale=0.9), dict(scale=0.7, background=(230, 230, 230), dx=-2, dy=2)]


def target_label(name: str, task: str) -> str:
    """Plain-English class name a user would write, from a CLDR name."""
    if task == "animals":
        name = re.sub(r" face$", "", name)
    return name


class Builder:
    """Accumulates rendition rows per family."""

    def __init__(self, table: list[dict]):
        self.table = table
        self.rows: dict[str, list[tuple[np.ndarray, int, str]]] = {}

    def add(self, family: str, pixels: np.ndarray, concept: int, name: str) -> list:
        rows = self.rows.setdefault(family, [])
        rows.append((pixels, concept, name))
        return [family, len(rows) - 1]


def build(scratch: Path, out: Path) -> dict:
    from sklearn.datasets import load_digits

    wn = WordNet(scratch / "x" / "usr" / "share" / "wordnet")
    table = concepts(scratch)
    for c in table:
        word = c["name"].split(": ", 1)[1] if c["category"] == "Flags" and ": " in c["name"] else c["name"]
        if ":" in word and c["category"] != "Flags":
            c["wnid"] = ""  # "keycap: 1", "family: man, woman, boy", ...
        else:
            c["wnid"] = wordnet_id(wn, word, c["category"], c["subcategory"])
    print("rendering emoji families ...", file=sys.stderr)
    fams = renditions(scratch, table)
    digit_base = len(table)
    for d in DIGITS:
        table.append({"key": f"digit-{d}", "name": d, "category": "Digits", "subcategory": "digit",
                      "wnid": wordnet_id(wn, d, "Digits", "digit")})
    b = Builder(table)
    splits: dict = {"families": FAMILY_SPLIT, "train": {}, "samples": [], "targets": []}

    # --- train: Google + Twemoji (every concept they draw), even rows of the digits
    for family in ("google", "twemoji"):
        splits["train"][family] = [b.add(family, flatten(im), i, nm)[1] for i, (im, nm) in sorted(fams[family].items())]
    digits = load_digits()
    digit_img = [(np.clip(16 - d, 0, 16) * 255 / 16).astype(np.uint8) for d in digits.images]

    def digit_pixels(k: int) -> np.ndarray:
        return np.asarray(Image.fromarray(digit_img[k]).resize((SIZE, SIZE), Image.BILINEAR).convert("RGB"))

    splits["train"]["digits"] = [
        b.add("digits", digit_pixels(k), digit_base + int(digits.target[k]), f"digit {int(digits.target[k])}")[1]
        for k in range(len(digit_img)) if k % 3 == 0]

    # --- samples: OpenMoji and EmojiOne, one dataset each; classes = WordNet synsets
    for family, name, domain in (("openmoji", "openmoji-sketch", "outlined emoji picture"),
                                 ("emojione", "emojione-cartoon", "cartoon emoji picture")):
        by_wnid: dict[str, list] = {}
        for i, (im, nm) in sorted(fams[family].items()):
            if table[i]["wnid"]:
                by_wnid.setdefault(table[i]["wnid"], []).append(b.add(family, flatten(im), i, nm))
        splits["samples"].append({
            "name": name, "domain": domain, "task_type": "image classification", "family": family,
            "classes": [{"name": wn.lemma[w].replace("_", " "), "wnid": w, "items": items}
                        for w, items in sorted(by_wnid.items())]})

    # --- samples: a third of the digits, classes = the number synsets (zero.n.02 ...)
    sample_digits: dict[int, list] = {d: [] for d in range(10)}
    for k in range(len(digit_img)):
        if k % 3 == 1:
            d = int(digits.target[k])
            sample_digits[d].append(b.add("digits", digit_pixels(k), digit_base + d, f"digit {d}"))
    splits["samples"].append({
        "name": "digits-sample", "domain": "handwritten digit picture", "task_type": "image classification",
        "family": "digits", "classes": [{"name": DIGITS[d], "wnid": table[digit_base + d]["wnid"], "items": items}
                                        for d, items in sample_digits.items()]})

    # --- targets: Fluent tasks, expressions, flags, digits
    def fluent_items(i: int, variants=TARGET_VARIANTS) -> list:
        items = []
        for style in FLUENT_STYLES:
            got = fams[f"fluent-{style}"].get(i)
            if got is not None:
                items += [b.add(f"fluent-{style}", flatten(got[0], **v), i, got[1]) for v in variants]
        return items

    for name, domain, task_type, subcats, n_classes in FLUENT_TASKS:
        classes, seen = [], set()
        for i, c in enumerate(table[:digit_base]):
            if c["subcategory"] not in subcats or ":" in c["name"]:
                continue
            label = target_label(c["name"], name)
            if label in seen or sum(i in fams[f"fluent-{s}"] for s in FLUENT_STYLES) < 2:
                continue
            seen.add(label)
            classes.append({"name": label, "items": fluent_items(i)})
            if len(classes) == n_classes:
                break
        splits["targets"].append({"name": name, "domain": domain, "task_type": task_type, "classes": classes})
    index = {c["name"]: i for i, c in enumerate(table[:digit_base])}
    splits["targets"].append({
        "name": "expressions", "domain": "cartoon face picture", "task_type": "facial expression classification",
        "classes": [{"name": e, "items": [it for nm in names for it in fluent_items(index[nm], TARGET_VARIANTS[:1])]}
                    for e, names in EXPRESSIONS.items()]})

    n = scratch / "n"
    fi_names = {e["code"]: e["name"] for e in json.loads((n / "flag-icons-7.5.0/package/country.json").read_text())}
    cf_names = {k.lower(): v for k, v in
                json.loads((n / "svg-country-flags-1.2.10/package/countries.json").read_text()).items()}
    flag_concept = {c["key"]: i for i, c in enumerate(table[:digit_base]) if c["subcategory"] == "country-flag"}
    flags = []
    for code in FLAG_CODES:
        key = "-".join(f"{0x1F1E6 + ord(ch) - ord('a'):x}" for ch in code)  # regional indicator pair
        concept = flag_concept[key]
        country = table[concept]["name"].split(": ", 1)[-1]
        items = []
        for family, path, src_name in (
                ("flagicons-4x3", n / f"flag-icons-7.5.0/package/flags/4x3/{code}.svg", fi_names[code]),
                ("flagicons-1x1", n / f"flag-icons-7.5.0/package/flags/1x1/{code}.svg", fi_names[code]),
                ("countryflags", n / f"svg-country-flags-1.2.10/package/svg/{code}.svg", cf_names[code])):
            im = svg(path)
            items += [b.add(family, flatten(im, **v), concept, src_name) for v in FLAG_VARIANTS]
        flags.append({"name": country, "items": items})
    splits["targets"].append({"name": "flags", "domain": "flag picture", "task_type": "geo-localization",
                              "classes": flags})

    target_digits: dict[int, list] = {d: [] for d in range(10)}
    for k in range(len(digit_img)):
        if k % 3 == 2:
            d = int(digits.target[k])
            target_digits[d].append(b.add("digits", digit_pixels(k), digit_base + d, f"digit {d}"))
    splits["targets"].append({"name": "digits", "domain": "handwritten digit picture",
                              "task_type": "image classification",
                              "classes": [{"name": DIGITS[d], "items": items} for d, items in target_digits.items()]})
    write(out, b, table, splits)
    return splits


def write(out: Path, b: Builder, table: list[dict], splits: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    string = h5py.string_dtype("utf-8")
    tmp = out / "corpus.h5.tmp"
    with h5py.File(tmp, "w", track_order=True) as f:
        f.attrs["version"] = "2"
        for family, rows in sorted(b.rows.items()):
            g = f.create_group(f"renditions/{family}")
            g.attrs["split"] = FAMILY_SPLIT[family]
            g.create_dataset("images", data=np.stack([r[0] for r in rows]), compression="gzip",
                             compression_opts=9, shuffle=True, chunks=(min(len(rows), 256), SIZE, SIZE, 3))
            g.create_dataset("concept", data=np.array([r[1] for r in rows], np.int32), compression="gzip")
            g.create_dataset("names", data=np.array([r[2] for r in rows], dtype=object), dtype=string,
                             compression="gzip")
        for field in ("name", "wnid", "category"):
            f.create_dataset(f"concepts/{field}", data=np.array([c[field] for c in table], dtype=object),
                             dtype=string, compression="gzip")
    tmp.replace(out / "corpus.h5")
    (out / "splits.json").write_text(json.dumps(splits, separators=(",", ":")))


# ----------------------------------------------------------------------------- self-check
def self_check(out: Path, sheets: Path | None) -> None:
    splits = json.loads((out / "splits.json").read_text())
    with h5py.File(out / "corpus.h5", "r") as f:
        wnids = [w.decode() for w in f["concepts/wnid"][:]]
        imgs = {fam: f[f"renditions/{fam}/images"][:] for fam in f["renditions"]}
    used: dict[str, set] = {"train": set(), "samples": set(), "targets": set()}
    for fam, rows in splits["train"].items():
        used["train"] |= {(fam, r) for r in rows}
    for part in ("samples", "targets"):
        for t in splits[part]:
            used[part] |= {(fam, r) for c in t["classes"] for fam, r in c["items"]}
    fam_of = {p: {fam for fam, _ in s} for p, s in used.items()}
    # only the digits family spans splits, and then with disjoint rows
    assert fam_of["targets"] & fam_of["samples"] == {"digits"}, "a family feeds both targets and samples"
    assert fam_of["targets"] & fam_of["train"] == {"digits"}, fam_of
    assert fam_of["train"] & fam_of["samples"] == {"digits"}, fam_of
    for a, b_ in (("targets", "train"), ("targets", "samples"), ("train", "samples")):
        assert not used[a] & used[b_], f"a digit row is in both {a} and {b_}"
    faint = 0
    for part, s in used.items():
        for fam, r in sorted(s):
            im = imgs[fam][r]
            assert im.std() > 1, f"blank image {fam}[{r}]"
            faint += not (im.std() > 8 and im.min() < 200)  # white emoji: white heart, cloud, ...
    assert faint < 0.01 * sum(len(s) for s in used.values()), faint
    print(f"faint (white-on-white but not blank) images: {faint}")
    print("train images:", {k: len(v) for k, v in splits["train"].items()}, "=", len(used["train"]))
    for t in splits["samples"]:
        print(f"samples {t['name']}: {len(t['classes'])} synsets, {sum(len(c['items']) for c in t['classes'])} images")
    syn = {c["wnid"] for t in splits["samples"] for c in t["classes"]}
    print(f"sample synsets (union): {len(syn)}; concepts: {len(wnids)}, with wnid: {sum(bool(w) for w in wnids)}, "
          f"distinct wnids: {len(set(w for w in wnids if w))}")
    for t in splits["targets"]:
        n = [len(c["items"]) for c in t["classes"]]
        fams = sorted({fam for c in t["classes"] for fam, _ in c["items"]})
        print(f"target {t['name']:<12} {t['task_type']:<34} {len(n):>2} classes, {sum(n):>4} images "
              f"(min {min(n)}/class) from {fams}")
        assert 8 <= len(n) <= 40 and min(n) >= 4, t["name"]
        if sheets is not None:  # contact sheet: one row per class (first 12 items), up to 16 classes
            sheet = np.full((16 * SIZE, 12 * SIZE, 3), 255, np.uint8)
            for y, c in enumerate(t["classes"][:16]):
                for x, (fam, r) in enumerate(c["items"][:12]):
                    sheet[y * SIZE:(y + 1) * SIZE, x * SIZE:(x + 1) * SIZE] = imgs[fam][r]
            Image.fromarray(sheet).resize((12 * SIZE * 2, 16 * SIZE * 2), Image.NEAREST).save(
                sheets / f"contact_{t['name']}.png")
    print(f"targets: {len(used['targets'])} images; samples: {len(used['samples'])} images")
    print("corpus.h5:", round((out / "corpus.h5").stat().st_size / 2**20, 2), "MiB;",
          "splits.json:", round((out / "splits.json").stat().st_size / 2**10), "KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/emb"))
    parser.add_argument("--out", type=Path, default=HERE / "data")
    parser.add_argument("--sheets", type=Path, default=Path("/tmp"), help="where contact_<task>.png go")
    args = parser.parse_args()
    t0 = time.time()
    fetch(args.scratch)
    build(args.scratch, args.out)
    print(f"built in {time.time() - t0:.0f} s")
    self_check(args.out, args.sheets)


if __name__ == "__main__":
    main()
