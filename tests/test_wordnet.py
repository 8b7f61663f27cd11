"""The shipped WordNet 3.0 nouns: read with no system WordNet and no nltk; the Princeton parser."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mllbench.semantic import wordnet as wn
from mllbench.core.types import MllbenchError

REPO = Path(__file__).resolve().parents[1]

# A Princeton-format dict/ directory in miniature: a licence header (lines start with a space),
# examples in glosses, a hypernym and an instance hypernym, an exception and a multi-sense lemma.
DATA_NOUN = textwrap.dedent("""\
  1 This software and database is being provided to you, the LICENSEE, by
  2 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.
00000010 03 n 01 entity 0 001 ~ 00000020 n 0000 | that which is perceived to exist; "it is an entity"
00000020 05 n 02 goose 0 Goose(a) 1 002 @ 00000010 n 0000 ~i 00000030 n 0000 | web-footed bird; "a goose honked"; "geese fly"
00000030 15 n 01 Mother_Goose 0 001 @i 00000020 n 0000 | an imaginary author of nursery rhymes
00000040 18 n 01 goose 0 001 @ 00000010 n 0000 | a silly person
""")
INDEX_NOUN = textwrap.dedent("""\
  1 This software and database is being provided to you, the LICENSEE, by
entity n 1 1 ~ 1 0 00000010
goose n 2 2 @ ~i 2 1 00000020 00000040
mother_goose n 1 1 @i 1 0 00000030
""")
NOUN_EXC = "geese goose\n"


@pytest.fixture
def tiny_dict(tmp_path: Path) -> Path:
    for name, text in (("data.noun", DATA_NOUN), ("index.noun", INDEX_NOUN), ("noun.exc", NOUN_EXC)):
        (tmp_path / name).write_text(text, encoding="latin-1")
    return tmp_path


def test_princeton_files_parse_into_synsets_senses_and_links(tiny_dict: Path):
    data = wn.read_princeton(tiny_dict)
    assert data["wordnet"] == "3.0"
    net = wn.WordNet(data)
    assert len(net) == 4
    assert net.lemmas("n00000020") == ["goose", "Goose"]  # the (a) marker dropped, case kept
    assert net.definition("n00000020") == "web-footed bird"  # examples and their separators dropped
    assert net.definition("n00000010") == "that which is perceived to exist"
    assert net.hypernyms("n00000030") == ["n00000020"]  # an instance hypernym
    assert net.hypernyms("n00000030", instances=False) == []
    assert net.hyponyms("n00000010") == ["n00000020", "n00000040"]
    assert net.lexfile("n00000030") == 15
    assert net.senses("goose") == ["n00000020", "n00000040"]  # index order: most frequent first
    assert net.senses("geese") == ["n00000020", "n00000040"]  # through noun.exc
    assert net.senses("Mother Goose") == ["n00000030"]
    assert net.senses("gooses") == net.senses("goose")  # one pass of the detachment rules
    assert net.senses("nothing here") == []
    with pytest.raises(MllbenchError, match="not a WordNet 3.0 noun synset"):
        net.name("n99999999")


def test_missing_princeton_file_is_a_one_line_error(tmp_path: Path):
    with pytest.raises(MllbenchError, match="has no data.noun.*MLLBENCH_WORDNET_DIR"):
        wn.read_princeton(tmp_path)


def test_make_wordnet_script_is_byte_reproducible(tiny_dict: Path, tmp_path: Path):
    outs = []
    for name in ("a.json.gz", "b.json.gz"):
        out = tmp_path / name
        subprocess.run([sys.executable, str(REPO / "mllbench" / "data" / "make_wordnet.py"), "--source",
                        str(tiny_dict), "--out", str(out)], check=True, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert wn.load(tmp_path / "a.json.gz").senses("geese") == ["n00000020", "n00000040"]


def test_user_wordnet_dir_replaces_the_shipped_file(tiny_dict: Path, monkeypatch):
    monkeypatch.setenv("MLLBENCH_WORDNET_DIR", str(tiny_dict))
    wn.wordnet.cache_clear()
    try:
        assert len(wn.wordnet()) == 4 and wn.gloss("geese") == "web-footed bird"
    finally:
        wn.wordnet.cache_clear()


def test_a_damaged_or_foreign_file_is_a_one_line_error(tmp_path: Path):
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(MllbenchError, match="cannot read WordNet data"):
        wn.load(bad)
    with gzip.open(bad, "wt") as fh:
        json.dump({"format": "something else"}, fh)
    with pytest.raises(MllbenchError, match="make_wordnet.py"):
        wn.load(bad)


def test_graph_from_exactly_the_shipped_file_with_every_system_wordnet_hidden(tmp_path: Path):
    """A fresh process with an empty HOME, no nltk importable, no WordNet variables, and an
    nltk data path that exists but is empty: the graph still builds, from the shipped file."""
    script = textwrap.dedent("""
        import sys
        sys.modules["nltk"] = None  # any nltk import fails
        import numpy as np
        from mllbench.semantic import wordnet
        from mllbench.semantic.graph import build_graph
        from mllbench.core.types import TaskInfo

        class Sample:
            info = TaskInfo("s", ("golden retriever", "tabby"), "", "")
            wnids = ("n02099601", "n02123045")
            metadata = {}
            def labels(self):
                return np.array([0, 0, 1])

        g = build_graph([Sample()], images_per_node=75)
        print(wordnet.shipped_path(), len(wordnet.wordnet()), len(g.wnids), g.names[g.wnids.index("n02084071")])
        print(g.captions[g.wnids.index("n02099601")])
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLLBENCH_", "NLTK", "XDG_"))}
    env.update(HOME=str(tmp_path), NLTK_DATA=str(tmp_path / "empty"))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    path, n_synsets, n_nodes, dog = out.stdout.splitlines()[0].split(" ", 3)
    assert Path(path).name == wn.SHIPPED and n_synsets == "82115"
    assert dog == "dog"  # the hypernym closure reaches dog, canine, ... entity
    # golden retriever and tabby, and their hypernyms up to entity: counted independently below
    net = wn.load(Path(path))
    closure, todo = set(), ["n02099601", "n02123045"]
    while todo:
        w = todo.pop()
        if w not in closure:
            closure.add(w)
            todo += net.hypernyms(w)
    assert int(n_nodes) == len(closure) and "n00001740" in closure
    assert out.stdout.splitlines()[1].startswith("golden retriever which is an English breed")


def test_shipped_file_loads_fast_enough_to_not_matter():
    """Not a timing assertion: the shipped file parses lazily, so one lookup touches one line."""
    net = wn.load(wn.shipped_path())
    assert net._rows == {}  # nothing parsed yet
    assert net.name("n02099601") == "golden retriever"
    assert list(net._rows) == ["n02099601"]
