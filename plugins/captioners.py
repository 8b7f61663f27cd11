"""Built-in caption generator: offline templates (the GPT captioner needs a key).

Section 4.2 asks GPT-4 for "long detailed caption for the {domain} of {class}
in the {task}". Offline, ``template`` writes captions of the same shape, with
the WordNet definition of the class name's most frequent noun sense standing
in for GPT's description (omitted when the name is not a WordNet noun).
"""
from __future__ import annotations

from mllbench.hookspecs import hookimpl

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
        from mllbench.wordnet import gloss

        meaning = gloss(classname) if any("{gloss}" in t for t in self.templates) else None
        out = []
        for t in self.templates:
            if "{gloss}" in t and not meaning:
                t = t.replace(", which is {gloss}", "").replace(": {gloss}", "")
            out.append(t.format(classname=classname, domain=domain, task_type=task_type, gloss=meaning))
        return out


@hookimpl
def register_captioners(register):
    register("template", lambda options: TemplateCaptioner(**options))
