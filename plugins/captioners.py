"""Built-in caption generators that need no API key.

Section 4.2 asks GPT-4 for "long detailed caption for the {domain} of {class}
in the {task}". Offline, ``template`` writes captions of the same shape, with
the WordNet definition of the class name's most frequent noun sense standing
in for GPT's description (omitted when the name is not a WordNet noun).

``mll-official`` returns the captions the MLL authors released (GPT-3.5,
about ten per class, for the 17 target tasks of the paper benchmark; MIT),
read from a copy of their ``MLL/`` folder (``--mll-dir`` /
``MLLBENCH_MLL_DIR``: ``datasets.json`` plus ``caption_gen/captions/*.json``
or ``captions/*.json``) or fetched once from their repository at a pinned
commit. Given a whole task (``caption_many``, as the Session asks), the
release file holding most of the task's class names supplies them, so a
definition's own domain strings (Table 5's) need not match the authors'.
A single class is found by what the GPT prompt was given: (domain, task
type, class name), normalised; failing that, by its class name where that
is unique in the release. The released items are re-split as GPT replies
are (numbered list markers dropped; some items hold a whole list where the
authors' blank-line split failed, e.g. CIFAR100 "tiger"). Classes the release lacks (the sample datasets',
which ModelGPT captions too) get ``template`` captions.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from mllbench.contract import hookimpl, MllbenchError, pinned_files
from mllbench.plugins.openai_text import split_captions

MLL_URL = "https://raw.githubusercontent.com/LAMDASZ-ML/MLL"
MLL_COMMIT = "5f6e57599241287a47f868ee69c8e5250e7c2243"
MLL_TASKS = ("CIFAR100", "Country211", "DTD", "FER2013", "Flowers102", "Food101", "GTSRB", "MNIST",
             "OxfordIIITPet", "PCAM", "RenderedSST2", "STL10", "StanfordCars", "UCF101",
             "clevr_closest_object_distance", "dmlab", "resisc45")
MLL_FILES = {"datasets.json": "MLL/datasets.json",
             **{f"captions/{t}.json": f"MLL/caption_gen/captions/{t}.json" for t in MLL_TASKS}}

TEMPLATES = (
    "The {domain} of {classname}, which is {gloss}.",
    "A {domain} of {classname} for {task_type}.",
    "{classname}: {gloss}.",
)


class TemplateCaptioner:
    """Captions from fixed templates; ``{gloss}`` comes from WordNet."""

    def __init__(self, templates: tuple[str, ...] = TEMPLATES):
        self.templates = tuple(templates)

    def __call__(self, classname: str, domain: str, task_type: str) -> list[str]:
        from mllbench.contract import gloss

        meaning = gloss(classname) if any("{gloss}" in t for t in self.templates) else None
        out = []
        for t in self.templates:
            if "{gloss}" in t and not meaning:
                t = t.replace(", which is {gloss}", "").replace(": {gloss}", "")
            out.append(t.format(classname=classname, domain=domain, task_type=task_type, gloss=meaning))
        return out


def normal(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").split())


def mll_dir() -> Path:
    """The user's copy of the authors' ``MLL/`` folder, else the pinned download."""
    if os.environ.get("MLLBENCH_MLL_DIR"):
        return Path(os.environ["MLLBENCH_MLL_DIR"])
    return pinned_files("mll", os.environ.get("MLLBENCH_MLL_URL", MLL_URL), MLL_COMMIT, MLL_FILES,
                        "pass --mll-dir with a copy of the MLL repository's MLL/ folder")


class OfficialCaptioner:
    """The MLL authors' released captions, keyed as their GPT prompt was: (domain, task, class)."""

    def __init__(self, folder: Path | None = None, fallback: TemplateCaptioner | None = None):
        folder = folder or mll_dir()
        captions = next((d for d in (folder / "caption_gen" / "captions", folder / "captions") if d.is_dir()), None)
        if captions is None or not (folder / "datasets.json").is_file():
            raise MllbenchError(f"{folder} is not the MLL authors' MLL/ folder (needs datasets.json and "
                                "caption_gen/captions/); check --mll-dir")
        tasks = json.loads((folder / "datasets.json").read_text())["target_dataset"]
        self.by_prompt: dict[tuple[str, str, str], list[str]] = {}
        self.by_class: dict[str, list[list[str]]] = {}
        self.by_file: dict[str, dict[str, list[str]]] = {}
        for path in sorted(captions.glob("*.json")):
            meta = tasks.get(path.stem, {})
            for classname, texts in json.loads(path.read_text()).items():
                key = (normal(meta.get("domain", "")), normal(meta.get("task", "")), normal(classname))
                texts = [c for t in texts for c in split_captions(t)]
                self.by_prompt[key] = texts
                self.by_class.setdefault(normal(classname), []).append(texts)
                self.by_file.setdefault(path.stem, {})[normal(classname)] = texts
        self.fallback = fallback or TemplateCaptioner()

    def __call__(self, classname: str, domain: str, task_type: str) -> list[str]:
        found = self.by_prompt.get((normal(domain), normal(task_type), normal(classname)))
        if found is not None:
            return found
        same_name = self.by_class.get(normal(classname), [])
        if len(same_name) == 1:
            return same_name[0]
        if same_name:
            raise MllbenchError(f"class {classname!r} has official captions in {len(same_name)} tasks and the "
                                f"domain/task ({domain!r}, {task_type!r}) match none; use the domain and task "
                                "strings of the authors' datasets.json in the benchmark definition")
        return self.fallback(classname, domain, task_type)

    def caption_many(self, requests: list[tuple[str, str, str]]) -> list[list[str]]:
        """One task's classes: from the release file that covers most of them, else one by one."""
        names = {normal(c) for c, _, _ in requests}
        best = max(self.by_file.values(), key=lambda f: len(names & f.keys()), default={})
        if len(names & best.keys()) * 2 < len(names):  # not this release's task: no file to trust
            best = {}
        return [best.get(normal(c)) or self(c, d, t) for c, d, t in requests]


@hookimpl
def register_captioners(register):
    register("template", lambda options: TemplateCaptioner(**options))
    register("mll-official", lambda options: OfficialCaptioner(**options))
