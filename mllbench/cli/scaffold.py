"""``mllbench new-plugin``: an installable plugin package to start from, one per hook kind.

Why: a third-party plugin is a distribution with an entry point of group
``mllbench`` (``mllbench/host/plugins.py``) whose module implements one hook of
``mllbench/contract/hookspecs.py``. Getting that wiring right (entry-point group, hook
name, the factory's signature, registering under the plugin's name) is where
people stumble; the generated package has it right, with a small working
example of the kind that imports only the plugin contract (``mllbench.contract``)
and a pytest test that loads it through mllbench's own plugin host, so it passes
before it is installed and after.

Layout: ``mllbench-<name>/`` with ``pyproject.toml``, ``README.md``,
``mllbench_<name>/__init__.py`` and ``tests/test_<name>.py``, rendered from the
package data ``mllbench/cli/templates/*.tmpl`` (``__KEY__`` placeholders). It is
built in a temporary folder and moved into place, so an error leaves nothing behind.
"""
from __future__ import annotations

import keyword
import os
import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mllbench.core.types import MllbenchError

@dataclass(frozen=True)
class Kind:
    """One kind of plugin; its code and test are templates/<kind>.py.tmpl and <kind>_test.py.tmpl."""

    hook: str  # the hookspec the module implements
    registry: str  # the host's registry it lands in (mllbench/host/plugins.py KINDS)
    summary: str
    usage: str  # the README's "Use it" section
    dependencies: tuple[str, ...] = ("numpy",)


KINDS = {
    "selector": Kind("register_selectors", "selector", "a model selector: the model with the best mean "
                     "accuracy on the sample datasets",
                     "mllbench run --method __NAME__ --tasks all\nmllbench leaderboard\n"
                     "mllbench -b lovm run --method __NAME__       # LOVM's tables, no model runs"),
    "captioner": Kind("register_captioners", "captioner", "a class captioner: fixed templates",
                      "mllbench --captioner __NAME__ run --method mll --tasks all"),
    "embedder": Kind("register_embedders", "embedder", "a text embedder: signed word hashing (numpy only)",
                     "mllbench --embedder __NAME__ run --method mll --tasks all\n"
                     "mllbench --embedder __NAME__:512 run --method mll   # 512 dimensions"),
    "dataset": Kind("register_dataset_sources", "dataset source", "a dataset source: an image folder, one "
                    "sub-folder per class",
                    '# in a benchmark definition (my-bench.json), a target task or sample dataset:\n'
                    '#   {"name": "pets", "source": "__NAME__", "root": "pets", "domain": "photo"}\n'
                    "mllbench -b my-bench.json tasks", ("numpy", "Pillow")),
    "model": Kind("register_model_providers", "model provider", "a model provider: open_clip models",
                  '# in a benchmark definition (my-bench.json), a hub model:\n'
                  '#   {"id": "vit-b-32", "provider": "__NAME__", "args": {"model": "ViT-B-32", '
                  '"pretrained": "openai"}}\nmllbench -b my-bench.json models',
                  ("numpy", "Pillow")),  # and torch + open_clip_torch: mllbench's torch extra (see docs/index.md)
}

TEST_DOC = '''"""Tests of __NAME__; the `host` fixture (conftest.py) loads it as mllbench does."""
'''

MODEL_EXTRA = '''
Running models needs torch and open_clip: `pip install 'mllbench[torch]'`
(its pins keep a CPU torch; a bare `open_clip_torch` pulls a CUDA build).
'''


def template(name: str) -> str:
    """A template of the package data (mllbench/cli/templates/NAME.tmpl)."""
    return (resources.files("mllbench.cli") / "templates" / f"{name}.tmpl").read_text(encoding="utf-8")


def check_name(name: str) -> str:
    """The package's identifier for ``name``; an error naming the rule when it has none."""
    ident = name.replace("-", "_")
    if not (ident.isascii() and ident.isidentifier()) or keyword.iskeyword(ident):
        raise MllbenchError(f"plugin name {name!r} is not usable: use letters, digits, '_' and '-', "
                            "not starting with a digit (a Python identifier once '-' become '_'), e.g. my-selector")
    return ident


def check_free(name: str, kind: str, taken: dict[str, dict]) -> None:
    """An error when the host already has a ``kind`` called ``name`` (both would fail to register)."""
    registry = KINDS[kind].registry
    if name in taken.get(registry, {}):
        article = "an" if registry[0] in "aeiou" else "a"
        raise MllbenchError(f"{article} {registry} named {name!r} is already installed (see `mllbench plugins`); "
                            "choose another name")


def class_name(name: str) -> str:
    """The generated selector's class: ``demo-pick`` -> ``DemoPickSelector``."""
    camel = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    return camel if camel.endswith("Selector") else camel + "Selector"


def render(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``__KEY__`` replaced by ``values[KEY]``."""
    for key, value in values.items():
        text = text.replace(f"__{key}__", value)
    return text


def new_plugin(name: str, kind: str, out: Path | None = None) -> Path:
    """Write the package for plugin ``name`` of ``kind`` to ``out`` (default ./mllbench-<name>); its path."""
    ident = check_name(name)
    if kind not in KINDS:
        raise MllbenchError(f"unknown plugin kind {kind!r}; choose one of {', '.join(KINDS)}")
    spec = KINDS[kind]
    target = Path(out) if out else Path(f"mllbench-{name}")
    if target.exists():
        raise MllbenchError(f"{target} already exists; pass --out with a new folder (nothing is overwritten)")
    module = f"mllbench_{ident}"
    values = {"NAME": name, "IDENT": ident, "MODULE": module, "DIST": f"mllbench-{name}", "KIND": kind,
              "CLASS": class_name(name),
              "HOOK": spec.hook, "SUMMARY": spec.summary,
              "DEPENDENCIES": ", ".join(f'"{d}"' for d in spec.dependencies),
              "EXTRA": MODEL_EXTRA if kind == "model" else ""}
    values["USAGE"] = render(spec.usage, values)
    files = {"pyproject.toml": template("pyproject.toml"), "README.md": template("README.md"),
             f"{module}/__init__.py": template(f"{kind}.py"), "tests/conftest.py": template("conftest.py"),
             f"tests/test_{ident}.py": TEST_DOC + template(f"{kind}_test.py")}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        for relative, text in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(text, values), encoding="utf-8")
        if target.exists():
            raise MllbenchError(f"{target} appeared while writing; pass --out with a new folder")
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
