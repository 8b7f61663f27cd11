"""Write mllbench/data/wordnet-3.0-nouns.json.gz from Princeton WordNet 3.0 files.

Usage:  python mllbench/data/make_wordnet.py --source DICT_DIR [--check-nltk]

DICT_DIR is a WordNet 3.0 ``dict/`` directory: Princeton's WordNet-3.0.tar.gz,
Debian's ``wordnet-base`` (``apt-get download wordnet-base && dpkg-deb -x``
gives usr/share/wordnet), or nltk's ``corpora/wordnet``. The output is
byte-reproducible (sorted keys, gzip mtime 0). ``--check-nltk`` compares every
noun synset's lemmas, definition and hypernyms, and the senses of every index
lemma, with nltk's reader on the same files (needs nltk 3.9, which reads a
dict/ directory that has a ``lexnames`` file).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mllbench.semantic.wordnet import SHIPPED, WordNet, read_princeton  # noqa: E402


def write(data: dict, out: Path) -> None:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(raw)
    tmp.replace(out)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()[:16]}; "
          f"{data['synsets'].count(chr(10)) + 1} synsets, {data['index'].count(chr(10)) + 1} lemmas")


def check_with_nltk(source: Path, wn: WordNet) -> None:
    """Every synset and every index lemma as nltk reads the same files."""
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.data import FileSystemPathPointer

    # nltk 3.9+ maps any reader to its downloaded 'wordnet' corpus for OMW (needs index.sense
    # and the download); the English synsets read here need no mapping
    WordNetCorpusReader.map_wn = lambda self, version="wordnet": None
    ref = WordNetCorpusReader(FileSystemPathPointer(str(source)), None)
    bad = 0
    for s in ref.all_synsets("n"):
        w = f"n{s.offset():08d}"
        mine = (wn.lemmas(w), wn.definition(w), sorted(wn.hypernyms(w)))  # nltk keeps pointers in a set
        theirs = (s.lemma_names(), s.definition(),
                  sorted(f"n{h.offset():08d}" for h in s.hypernyms() + s.instance_hypernyms()))
        bad += mine != theirs
    for lemma in ref._lemma_pos_offset_map:
        if "n" in ref._lemma_pos_offset_map[lemma]:
            bad += wn.senses(lemma) != [f"n{s.offset():08d}" for s in ref.synsets(lemma, pos="n")]
    for word in ("geese", "dogs", "boxes", "women", "berries", "wolves", "tabby cat", "Golden Retriever"):
        bad += wn.senses(word) != [f"n{s.offset():08d}" for s in ref.synsets(word.replace(" ", "_"), pos="n")]
    print(f"nltk {sys.modules['nltk'].__version__} check: {bad} differences")
    if bad:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a WordNet 3.0 dict/ directory")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / SHIPPED)
    parser.add_argument("--check-nltk", action="store_true")
    args = parser.parse_args()
    data = read_princeton(args.source)
    if data["wordnet"] != "3.0":
        raise SystemExit(f"{args.source} is WordNet {data['wordnet']}; ImageNet's wnids are WordNet 3.0 offsets")
    write(data, args.out)
    if args.check_nltk:
        check_with_nltk(args.source, WordNet(data))


if __name__ == "__main__":
    main()
