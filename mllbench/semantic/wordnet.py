"""Princeton WordNet 3.0 nouns, shipped with mllbench: no nltk, no system files.

What the semantic graph needs (Sec. 4.1) is the noun part of WordNet 3.0,
keyed by ImageNet-style wnids (``n`` + the 8-digit offset in ``data.noun``):
each synset's lemmas, gloss and hypernym / instance-hypernym links, plus the
lemma index (senses in frequency order) and the noun exception list, so that
``senses("geese")`` finds goose as nltk's ``synsets(..., pos="n")`` does.

``mllbench/data/wordnet-3.0-nouns.json.gz`` holds exactly that, written by
``mllbench/data/make_wordnet.py`` from the Princeton files with
:func:`read_princeton` (the licence is beside it). ``$MLLBENCH_WORDNET_DIR``
points at a user's own WordNet ``dict/`` directory instead, read with the same
parser; only ``data.noun``, ``index.noun`` and (optionally) ``noun.exc`` are
needed, so no distribution's missing extra files can break it again.
"""
from __future__ import annotations

import gzip
import json
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from mllbench.core.types import MllbenchError

FORMAT = "mllbench-wordnet-nouns"
FORMAT_VERSION = 1
SHIPPED = "wordnet-3.0-nouns.json.gz"
# nltk's noun detachment rules (WordNet's morphy), applied once
NOUN_RULES = (("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
              ("shes", "sh"), ("men", "man"), ("ies", "y"))
_EXAMPLE = re.compile(r"\".*?\"")


def read_princeton(root: Path) -> dict:
    """The shipped structure read from a Princeton ``dict/`` directory.

    Three newline-separated text tables, parsed lazily by :class:`WordNet`
    (a JSON of 82,115 nested lists took 0.6 s to load; these take ~0.1 s):
    ``synsets``, one line per synset in file order:
    ``wnid<TAB>lexfile<TAB>lemmas<TAB>hypernyms<TAB>instance hypernyms<TAB>definition``
    (space-separated lists; the definition is the gloss without its quoted
    examples, as nltk's ``Synset.definition()`` gives it); ``index``: ``lemma
    wnid...`` with senses in frequency order; ``exceptions``: ``form base...``.
    """
    root = Path(root)
    for name in ("data.noun", "index.noun"):
        if not (root / name).is_file():
            raise MllbenchError(f"{root} has no {name}: point MLLBENCH_WORDNET_DIR at a WordNet 3.0 dict/ directory")
    synsets = []
    for line in _lines(root / "data.noun"):
        fields, _, gloss = line.partition("|")
        tok = fields.split()
        n_words = int(tok[3], 16)
        lemmas = [re.sub(r"\(.*\)$", "", w) for w in tok[4:4 + 2 * n_words:2]]
        at = 4 + 2 * n_words
        pointers = [tok[at + 1 + 4 * i: at + 5 + 4 * i] for i in range(int(tok[at]))]
        hyper = [f"n{p[1]}" for p in pointers if p[0] == "@" and p[2] == "n"]
        inst = [f"n{p[1]}" for p in pointers if p[0] == "@i" and p[2] == "n"]
        definition = _EXAMPLE.sub("", gloss.strip()).strip().strip("; ")
        synsets.append("\t".join([f"n{tok[0]}", str(int(tok[1])), " ".join(lemmas), " ".join(hyper), " ".join(inst),
                                  definition]))
    index = []
    for line in _lines(root / "index.noun"):
        tok = line.split()
        index.append(" ".join([tok[0], *(f"n{o}" for o in tok[-int(tok[2]):])]))
    exceptions = _lines(root / "noun.exc") if (root / "noun.exc").is_file() else []
    return {"format": FORMAT, "version": FORMAT_VERSION, "wordnet": _version(root / "data.noun"),
            "synsets": "\n".join(synsets), "index": "\n".join(index),
            "exceptions": "\n".join(" ".join(line.split()) for line in exceptions)}


def _lines(path: Path) -> list[str]:
    """Data lines (the licence header lines start with a space)."""
    return [line for line in path.read_text(encoding="latin-1").splitlines() if line and not line.startswith(" ")]


def _version(data_noun: Path) -> str:
    head = data_noun.read_text(encoding="latin-1")[:3000]
    found = re.search(r"WordNet (\d+\.\d+)", head)
    return found.group(1) if found else "?"


def _table(text: str, sep: str | None = " ") -> dict[str, list[str]]:
    """``key rest...`` lines -> {key: rest}."""
    out = {}
    for line in text.splitlines():
        key, *rest = line.split(sep)
        out[key] = rest
    return out


class WordNet:
    """Noun synsets by wnid; methods return wnids and strings, not objects."""

    def __init__(self, data: dict):
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise MllbenchError(f"not a {FORMAT} v{FORMAT_VERSION} file; rebuild it with mllbench/data/make_wordnet.py")
        self.version: str = data["wordnet"]
        lines = data["synsets"].split("\n")
        self._lines = {line[:9]: line for line in lines}
        self._rows: dict[str, list[str]] = {}
        self._index_text, self._exceptions_text = data["index"], data["exceptions"]
        self._index: dict[str, list[str]] | None = None
        self._exceptions: dict[str, list[str]] | None = None
        self._hyponyms: dict[str, list[str]] | None = None

    def __contains__(self, wnid: str) -> bool:
        return wnid in self._lines

    def __len__(self) -> int:
        return len(self._lines)

    def wnids(self) -> list[str]:
        return list(self._lines)

    def _row(self, wnid: str) -> list[str]:
        row = self._rows.get(wnid)
        if row is None:
            if wnid not in self._lines:
                raise MllbenchError(f"{wnid!r} is not a WordNet {self.version} noun synset id (n + 8 digits)")
            row = self._rows[wnid] = self._lines[wnid].split("\t")
        return row

    def lemmas(self, wnid: str) -> list[str]:
        """Lemma names as WordNet spells them (``golden_retriever``), most common first."""
        return self._row(wnid)[2].split()

    def name(self, wnid: str) -> str:
        """The first lemma with spaces: the class name a synset stands for."""
        return self.lemmas(wnid)[0].replace("_", " ")

    def definition(self, wnid: str) -> str:
        return self._row(wnid)[5]

    def lexfile(self, wnid: str) -> int:
        """The lexicographer file number (5 = noun.animal, 15 = noun.location, ...)."""
        return int(self._row(wnid)[1])

    def hypernyms(self, wnid: str, instances: bool = True) -> list[str]:
        """Direct hypernyms, then (with ``instances``) instance hypernyms, in file order."""
        row = self._row(wnid)
        return row[3].split() + (row[4].split() if instances else [])

    def hyponyms(self, wnid: str) -> list[str]:
        """Direct hyponyms and instances: the inverse of :meth:`hypernyms`."""
        if self._hyponyms is None:
            inverse: dict[str, list[str]] = {}
            for child in self._lines:
                for parent in self.hypernyms(child):
                    inverse.setdefault(parent, []).append(child)
            self._hyponyms = inverse
        return list(self._hyponyms.get(wnid, []))

    def senses(self, word: str) -> list[str]:
        """Noun senses of a word or phrase, most frequent first, as nltk's
        ``synsets(word, pos="n")``: exceptions, else one pass of the detachment rules."""
        if self._index is None:
            self._index, self._exceptions = _table(self._index_text), _table(self._exceptions_text)
        form = word.strip().lower().replace(" ", "_")
        bases = self._exceptions.get(form) or [form[: -len(old)] + new for old, new in NOUN_RULES if form.endswith(old)]
        return [w for f in dict.fromkeys([form, *bases]) for w in self._index.get(f, [])]


def shipped_path() -> Path:
    return Path(str(resources.files("mllbench"))) / "data" / SHIPPED


def load(path: Path) -> WordNet:
    """A shipped-format file (gzip JSON), or a one-line error naming the fix."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return WordNet(json.load(fh))
    except (OSError, ValueError) as exc:
        raise MllbenchError(f"cannot read WordNet data {path}: {exc}; reinstall mllbench "
                            "or set MLLBENCH_WORDNET_DIR to a WordNet 3.0 dict/ directory") from None


@lru_cache(maxsize=1)
def wordnet() -> WordNet:
    """``$MLLBENCH_WORDNET_DIR`` (a Princeton dict/ directory) if set, else the shipped file."""
    own = os.environ.get("MLLBENCH_WORDNET_DIR")
    return WordNet(read_princeton(Path(own))) if own else load(shipped_path())


def gloss(word: str) -> str | None:
    """Definition of the most frequent noun sense of ``word``, if it is a noun."""
    senses = wordnet().senses(word)
    return wordnet().definition(senses[0]) if senses else None
