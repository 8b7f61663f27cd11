"""Find Princeton WordNet 3.0 for nltk without ``nltk.download`` (no network).

Order: ``$MLLBENCH_WORDNET_DIR`` (a directory with data.noun etc.), nltk's
own data path (a user who ran ``nltk.download('wordnet')``), then Debian's
``wordnet-base`` in /usr/share/wordnet. Debian ships no ``lexnames`` table
(nltk needs it), so the files are copied, not linked (nltk refuses paths that
leave its root), into a cache directory together with that 45-line table.
"""
from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path

from mllbench.downloads import cache_root as mllbench_cache
from mllbench.types import MllbenchError

DEBIAN_DIR = Path("/usr/share/wordnet")
FILES = ("data.noun", "index.noun", "noun.exc", "data.verb", "index.verb", "verb.exc",
         "data.adj", "index.adj", "adj.exc", "data.adv", "index.adv", "adv.exc", "index.sense")
# WordNet 3.0 lexicographer files: number, name, part-of-speech code
LEXNAMES = ["adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
            "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
            "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
            "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon",
            "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
            "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body",
            "verb.change", "verb.cognition", "verb.communication", "verb.competition",
            "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
            "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
            "adj.ppl"]
POS_CODE = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def cache_root() -> Path:
    return mllbench_cache() / "wordnet"


def _prepare(source: Path) -> Path:
    """Copy a bare WordNet dict directory into an nltk-readable one."""
    target = cache_root() / "corpora" / "wordnet"
    stamp = target / ".source"
    if stamp.exists() and stamp.read_text() == str(source):
        return target
    tmp = target.with_name(f"wordnet.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in FILES:
        if (source / name).exists():
            shutil.copyfile(source / name, tmp / name)
    lines = [f"{i:02d}\t{name}\t{POS_CODE[name.split('.')[0]]}" for i, name in enumerate(LEXNAMES)]
    (tmp / "lexnames").write_text("\n".join(lines) + "\n")
    (tmp / ".source").write_text(str(source))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


@lru_cache(maxsize=1)
def wordnet():
    """An nltk WordNetCorpusReader for WordNet 3.0, or a one-line error.

    nltk (3.9+) only reads corpora below its data path, so the prepared copy
    lives under our cache root, which is added to ``nltk.data.path``.
    """
    import warnings

    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    # WordNet 3.0 has no multilingual (OMW) data, which we never use
    warnings.filterwarnings("ignore", message="The multilingual functions are not available")
    explicit = os.environ.get("MLLBENCH_WORDNET_DIR")
    source = Path(explicit) if explicit else None
    if source is None:
        try:
            return WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
        except LookupError:
            source = DEBIAN_DIR if (DEBIAN_DIR / "data.noun").exists() else None
    if source is None or not (source / "data.noun").exists():
        raise MllbenchError("WordNet 3.0 not found: `apt-get install wordnet-base` (Debian/Ubuntu), "
                            "or set MLLBENCH_WORDNET_DIR to a WordNet dict directory")
    _prepare(source)
    if str(cache_root()) not in nltk.data.path:
        nltk.data.path.append(str(cache_root()))
    return WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)


def synset(wnid: str):
    """The noun synset of an ImageNet-style id such as 'n02084071'."""
    return wordnet().synset_from_pos_and_offset("n", int(wnid[1:]))


def wnid_of(s) -> str:
    return f"n{s.offset():08d}"


def gloss(word: str) -> str | None:
    """Definition of the most frequent noun sense of ``word``, if it is a noun."""
    senses = wordnet().synsets(word.replace(" ", "_"), pos="n")
    return senses[0].definition() if senses else None
