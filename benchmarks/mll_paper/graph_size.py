"""Print the semantic graph's node count at the paper's scale, ours and the authors' code's way.

Sec. 5.2 reports 9,055 nodes. mllbench's construction (``mllbench.semantic.graph``):
the sample datasets' class synsets plus their whole hypernym closure. The
authors' ``evaluation_dataset_construct.py`` instead splits each ImageNet
class name on commas, takes every WordNet sense of every part (any part of
speech; counted here over noun senses, the part of WordNet mllbench ships, so
a part that is also a verb or adjective adds fewer nodes than in their code) as a node, and adds each such synset's direct hyponyms (which it
gives images of their parents). Their class-name file is not released, so
its stand-in here is ImageNet's synset words (timm's
``imagenet_synset_to_lemma.txt``), with and without stripping the space
after each comma. No images are read.

    python benchmarks/mll_paper/graph_size.py
"""
from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def code_variant(words: list[str], strip: bool) -> tuple[int, int]:
    """(synsets of the comma-split names, those plus their direct hyponyms), as the authors' code."""
    from mllbench.semantic.wordnet import wordnet

    wn = wordnet()
    base = set()
    for name in words:
        for part in name.split(","):
            base.update(wn.senses(part.strip() if strip else part))
    return len(base), len(base | {h for s in base for h in wn.hyponyms(s)})


def main() -> None:
    from mllbench.host.benchmark import load_benchmark
    from mllbench.pipeline.dryrun import graph_nodes
    from mllbench.host.plugins import get_host

    nodes, classes = graph_nodes(load_benchmark(get_host(), "mll-paper"))
    print(f"mllbench: {classes} sample-dataset synsets + hypernym closure = {nodes} nodes")
    info = Path(find_spec("timm").origin).parent / "data" / "_info"
    in1k = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t") for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines())
    for strip in (True, False):
        base, total = code_variant([lemmas[w] for w in in1k], strip)
        print(f"authors' code ({'parts stripped' if strip else 'parts as split'}): {base} synsets "
              f"+ direct hyponyms = {total} nodes")


if __name__ == "__main__":
    main()
