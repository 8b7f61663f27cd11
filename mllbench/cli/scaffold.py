"""``mllbench new-plugin``: an installable plugin package to start from, one per hook kind.

Why: a third-party plugin is a distribution with an entry point of group
``mllbench`` (``mllbench/host.py``) whose module implements one hook of
``mllbench/hookspecs.py``. Getting that wiring right (entry-point group, hook
name, the factory's signature, registering under the plugin's name) is where
people stumble; the generated package has it right, with a small working
example of the kind and a pytest test that loads it through mllbench's own
plugin host, so it passes before it is installed and after.

Layout: ``mllbench-<name>/`` with ``pyproject.toml``, ``README.md``,
``mllbench_<name>/__init__.py`` and ``tests/test_<name>.py``. It is built in a
temporary folder and moved into place, so an error leaves nothing behind.
"""
from __future__ import annotations

import keyword
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mllbench.core.types import MllbenchError


@dataclass(frozen=True)
class Kind:
    hook: str  # the hookspec the module implements
    registry: str  # the host's registry it lands in (mllbench/host.py KINDS)
    summary: str
    module: str  # the package's __init__.py
    test: str  # tests/test_<name>.py; its `host` fixture is in tests/conftest.py
    usage: str  # the README's "Use it" section
    dependencies: tuple[str, ...] = ("numpy",)


SELECTOR = '''"""__NAME__: an mllbench selector (made by `mllbench new-plugin`).

The rule: a model's score for every class of a target task is its mean accuracy
on the benchmark's sample datasets (on a table benchmark such as `-b lovm`: the
other tasks), i.e. "take the model that is best in general". On an image
benchmark the harness runs each hub model once on the sample datasets for it
(cached in the registry). Replace `select` with your own rule.
"""
from __future__ import annotations

import numpy as np

from mllbench import hookimpl
from mllbench.core.types import MllbenchError, SelectionContext


def select(ctx: SelectionContext) -> np.ndarray:
    """Scores of shape (n_models, n_classes), higher = better; the harness reuses the top k per class.

    ctx has the task's class names, domain and task type, the hub (ctx.models: id and metadata),
    sample datasets and their accuracies, captions, text embeddings and ctx.params (-p KEY=VALUE);
    never the target task's images or labels.
    """
    if not ctx.sample_tasks:
        raise MllbenchError("__NAME__ needs a benchmark with sample datasets")
    general = np.array([np.mean([ctx.sample_accuracy(m.id, t.name) for t in ctx.sample_tasks])
                        for m in ctx.models])
    return np.repeat(general[:, None], len(ctx.task.classnames), axis=1)


select.scores_are_accuracy = lambda params: True  # the scores are accuracies, so LOVM's L1 applies
select.defaults = {}  # defaults of ctx.params: leaderboard row labels leave these out


@hookimpl
def register_selectors(register):
    register("__NAME__", select)
'''

SELECTOR_TEST = '''import csv
import json

import numpy as np

from mllbench.host.benchmark import load_benchmark
from mllbench.pipeline.run import run_method
from mllbench.pipeline.session import Session
from mllbench.registry.store import Store

# a table benchmark in LOVM's format (mllbench/lovm.py): top-1 accuracy of each model per dataset
MODELS = ["RN50 openai", "ViT-B-32 openai", "ViT-B-16 laion400m_e32"]
ACCURACY = {"imagenet1k": [0.60, 0.70, 0.50], "cifar100": [0.50, 0.80, 0.40], "mnist": [0.90, 0.85, 0.30]}
FEATURES = ["text-acc1", "text-f1", "intraclass_sim", "inter_close", "intra_close", "superclass_metric", "IN-score"]


def test_registers_a_selector(host):
    assert "__NAME__" in host.registries["selector"]


def write_table(directory):
    directory.mkdir()
    with open(directory / "eval_table_features.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model_fullname", "dataset", "acc1", *FEATURES])
        for dataset, accuracies in ACCURACY.items():
            for model, accuracy in zip(MODELS, accuracies):
                writer.writerow([model, dataset, accuracy, *[0.5] * len(FEATURES)])
    for name, value in (("dataset_domains.json", "photograph"), ("dataset_tasks.json", "image classification")):
        (directory / name).write_text(json.dumps({d: value for d in ACCURACY}))


def test_picks_the_model_best_on_the_other_tasks(host, tmp_path, monkeypatch):
    """Runs the real pipeline on a 3-model table: each task gets the model with the best mean
    accuracy on the other two, and the result file is written."""
    write_table(tmp_path / "table")
    monkeypatch.setenv("TINY_TABLE_DIR", str(tmp_path / "table"))
    definition = tmp_path / "tiny.json"
    definition.write_text(json.dumps({"name": "tiny", "kind": "table", "dir_env": "TINY_TABLE_DIR"}))
    session = Session(load_benchmark(host, str(definition)), Store(tmp_path / "registry"))
    tasks = session.bench.resolve_tasks("all")
    result, path = run_method(session, "__NAME__", tasks, {}, k=1)
    assert path.is_file()
    for task in tasks:
        mean = [np.mean([ACCURACY[d][m] for d in ACCURACY if d != task]) for m in range(len(MODELS))]
        assert result["tasks"][task]["models_used"] == [MODELS[int(np.argmax(mean))]]
'''

CAPTIONER = '''"""__NAME__: an mllbench captioner (made by `mllbench new-plugin`).

A captioner describes one class of a task in a few sentences; the MLL selector
matches them to the semantic graph's node captions (Sec. 4.2). This one fills
fixed templates. The registry caches captions per captioner and plugin
version: bump the version in pyproject.toml when the captions change.
"""
from __future__ import annotations

from mllbench import hookimpl

TEMPLATES = (
    "a {domain} of a {classname}.",
    "a {domain} showing {classname}, for {task_type}.",
    "{classname}, as it looks in a {domain}.",
)


class TemplateCaptioner:
    """``(classname, domain, task_type) -> list of captions``."""

    def __init__(self, templates: tuple[str, ...] = TEMPLATES):
        self.templates = templates

    def __call__(self, classname: str, domain: str, task_type: str) -> list[str]:
        return [t.format(classname=classname, domain=domain, task_type=task_type) for t in self.templates]


@hookimpl
def register_captioners(register):
    # the factory gets {"model": X} for `--captioner __NAME__:X`, else {}
    register("__NAME__", lambda options: TemplateCaptioner())
'''

CAPTIONER_TEST = '''def test_registers_a_captioner(host):
    assert "__NAME__" in host.registries["captioner"]


def test_captions_name_the_class_and_domain(host):
    captioner = host.registries["captioner"]["__NAME__"]({})
    captions = captioner("tabby cat", "cartoon picture", "image classification")
    assert captions and all(isinstance(c, str) and "cat" in c for c in captions)
    assert any("cartoon picture" in c for c in captions)
    assert captioner("tabby cat", "cartoon picture", "image classification") == captions
'''

EMBEDDER = '''"""__NAME__: an mllbench text embedder (made by `mllbench new-plugin`).

An embedder maps captions to vectors; the MLL selector matches a task's class
captions to graph nodes by their cosine similarity. This one is a deterministic
signed hashing of words (numpy only, no model): weak, but it shows the
contract. `--embedder __NAME__:512` picks the dimension (default 256).
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np

from mllbench import hookimpl
from mllbench.core.types import MllbenchError

DIM = 256


def make_embedder(dim: int = DIM) -> Callable[[Sequence[str]], np.ndarray]:
    """``embed(texts) -> (len(texts), dim)`` float32, L2-normalised rows."""
    def embed(texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), dim), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                h = int.from_bytes(hashlib.blake2b(word.strip(".,;:!?").encode(), digest_size=8).digest(), "little")
                out[row, h % dim] += 1.0 if (h >> 63) else -1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    embed.batch_invariant = True  # a row depends on its text alone: the cache may embed many texts per call
    return embed


def factory(options: dict) -> Callable[[Sequence[str]], np.ndarray]:
    dim = options.get("model", DIM)
    if not str(dim).isdigit() or int(dim) < 1:
        raise MllbenchError(f"__NAME__: the dimension after ':' must be a positive integer, not {dim!r}")
    return make_embedder(int(dim))


@hookimpl
def register_embedders(register):
    register("__NAME__", factory)
'''

EMBEDDER_TEST = '''import numpy as np


def test_registers_an_embedder(host):
    assert "__NAME__" in host.registries["embedder"]


def test_embeddings_are_deterministic_normalised_and_batch_invariant(host):
    embed = host.registries["embedder"]["__NAME__"]({"model": "64"})
    texts = ["a photo of a tabby cat.", "a photo of a cat.", "a satellite image of a river."]
    vectors = embed(texts)
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(embed(texts[:1])[0], vectors[0])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
'''

DATASET = '''"""__NAME__: an mllbench dataset source (made by `mllbench new-plugin`).

Reads an image folder, one sub-folder per class (sorted; "_" in a folder name
becomes a space in the class name). A benchmark definition names it in a task
entry: {"name": "pets", "source": "__NAME__", "root": "pets", "domain": "photo"}
(``root`` relative to the definition file; optional ``task_type``,
``templates``, and for a sample dataset ``wnids``: one WordNet id per class).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mllbench import hookimpl
from mllbench.host.benchmark import entry_info
from mllbench.core.types import ArtifactStatus, MllbenchError, TaskInfo

EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


@dataclass
class FolderDataset:
    """What mllbench.core.types.ImageDataset asks: task info, labels and images by index."""

    info: TaskInfo
    files: list
    label_array: np.ndarray
    wnids: tuple | None = None
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.files)

    def labels(self) -> np.ndarray:
        return self.label_array

    def image(self, index: int):
        from PIL import Image

        with Image.open(self.files[index]) as im:
            return im.convert("RGB")


def root_of(entry: dict, base_dir: Path) -> Path:
    root = Path(entry["root"]).expanduser()
    return root if root.is_absolute() else base_dir / root


def load(entry: dict, base_dir: Path) -> FolderDataset:
    root = root_of(entry, base_dir)
    if not root.is_dir():
        raise MllbenchError(f"dataset {entry['name']!r}: folder {root} not found; fix `root` in the definition")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    files, labels = [], []
    for label, folder in enumerate(folders):
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)
        files += found
        labels += [label] * len(found)
    # cached predictions are keyed by this version: it changes whenever the list of files does
    version = hashlib.sha256("\\n".join(str(p.relative_to(root)) for p in files).encode()).hexdigest()[:12]
    wnids = tuple(entry["wnids"]) if "wnids" in entry else None
    return FolderDataset(entry_info(entry, [f.name.replace("_", " ") for f in folders]), files,
                         np.array(labels, dtype=np.int64), wnids, {"source": str(root), "version": version})


def locate(entry: dict, base_dir: Path) -> ArtifactStatus:
    """For `mllbench run --dry-run`: is the folder there? Reads nothing else."""
    root = root_of(entry, base_dir)
    return ArtifactStatus(entry["name"], "dataset", root.is_dir(), str(root), "" if root.is_dir() else
                          f"put the images in {root}/<class>/")


load.locate = locate


@hookimpl
def register_dataset_sources(register):
    register("__NAME__", load)
'''

DATASET_TEST = '''from PIL import Image


def test_registers_a_dataset_source(host):
    assert "__NAME__" in host.registries["dataset source"]


def test_reads_an_image_folder(host, tmp_path):
    for name, colour in (("golden_retriever", "yellow"), ("tabby_cat", "gray")):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), colour).save(tmp_path / "pets" / name / f"{i}.png")
    load = host.registries["dataset source"]["__NAME__"]
    ds = load({"name": "pets", "source": "__NAME__", "root": "pets", "domain": "photo"}, tmp_path)
    assert ds.info.classnames == ("golden retriever", "tabby cat") and ds.info.domain == "photo"
    assert len(ds) == 4 and ds.labels().tolist() == [0, 0, 1, 1]
    assert ds.image(3).size == (8, 8) and ds.image(3).mode == "RGB"
    assert load.locate({"name": "pets", "root": "pets"}, tmp_path).cached
'''

MODEL = '''"""__NAME__: an mllbench model provider (made by `mllbench new-plugin`).

Wraps an open_clip model. A benchmark definition's hub entry names it:
{"id": "vit-b-32", "provider": "__NAME__", "args": {"model": "ViT-B-32", "pretrained": "openai"}}
(``pretrained``: an open_clip tag, or a checkpoint file relative to the
definition). The harness adds ``device``, ``batch_size`` and ``precision``
(ignored here: fp32). torch and open_clip are imported only when a model
loads, so registering the plugin costs nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mllbench import hookimpl


class ClipModel:
    """What mllbench.core.types.VisionLanguageModel asks: L2-normalised float32 embeddings of images and texts."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, device: str, batch_size: int):
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.device, self.batch_size = device, batch_size

    def _encode(self, encode: Any, batches: list) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for batch in batches:
                out.append(torch.nn.functional.normalize(encode(batch.to(self.device)).float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        import torch

        return self._encode(self.model.encode_image, [
            torch.stack([self.preprocess(im.convert("RGB")) for im in images[i:i + self.batch_size]])
            for i in range(0, len(images), self.batch_size)])

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(self.model.encode_text, [self.tokenizer(list(texts[i:i + self.batch_size]))
                                                     for i in range(0, len(texts), self.batch_size)])


def load(args: dict, base_dir: Path) -> ClipModel:
    import torch

    # open_clip as mllbench imports it: beside a CPU torch, a CUDA torchvision's ops would fail to load
    from mllbench.plugins.openclip_provider import import_open_clip

    open_clip = import_open_clip()
    device = args.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    pretrained = args.get("pretrained")
    if pretrained and Path(pretrained).suffix:  # a checkpoint file, not a tag
        pretrained = str(base_dir / pretrained)
    model, _, preprocess = open_clip.create_model_and_transforms(args["model"], pretrained=pretrained or None,
                                                                 device=device)
    model.eval()
    return ClipModel(model, preprocess, open_clip.get_tokenizer(args["model"]), device,
                     int(args.get("batch_size", 64)))


@hookimpl
def register_model_providers(register):
    register("__NAME__", load)
'''

MODEL_TEST = '''import json

import numpy as np
import pytest
from PIL import Image

# a test-sized CLIP, randomly initialised: no download
TINY = {"embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def test_registers_a_model_provider(host):
    assert "__NAME__" in host.registries["model provider"]


def test_encodes_images_and_texts(host, tmp_path):
    from mllbench.plugins.openclip_provider import import_open_clip  # not `import open_clip`: see load()
    from mllbench.core.types import MllbenchError

    try:
        open_clip = import_open_clip()
    except MllbenchError as exc:
        pytest.skip(str(exc))  # no torch / open_clip here: pip install 'mllbench[torch]'
    config = tmp_path / "tiny-clip-__IDENT__.json"
    config.write_text(json.dumps(TINY))
    open_clip.add_model_config(config)
    load = host.registries["model provider"]["__NAME__"]
    model = load({"model": config.stem, "device": "cpu", "batch_size": 2}, tmp_path)
    texts = model.encode_texts(["a photo of a cat.", "a photo of a dog.", "a photo of a bird."])
    images = model.encode_images([Image.new("RGB", (40, 30), c) for c in ("red", "green", "blue")])
    assert texts.shape == images.shape == (3, 32)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
'''

TEST_DOC = '''"""Tests of __NAME__; the `host` fixture (conftest.py) loads it as mllbench does."""
'''

CONFTEST = '''"""The plugin as `mllbench` loads it: through mllbench's plugin host (mllbench/host.py), from the
entry point pyproject.toml declares, so the tests pass installed or not (pytest puts the project
folder on sys.path)."""
from importlib.metadata import EntryPoint

import pytest

from mllbench.host.plugins import Host, build_host

ENTRY_POINT = EntryPoint("__NAME__", "__MODULE__", "mllbench")  # as in pyproject.toml


@pytest.fixture
def host(monkeypatch) -> Host:
    """A host with only this plugin; a failure to load or register is the test's failure."""
    monkeypatch.delenv("MLLBENCH_PLUGINS", raising=False)  # it would keep the plugin out
    found = build_host([ENTRY_POINT])
    assert found.plugins and found.plugins[0].error is None, found.plugins[0]
    return found
'''

KINDS = {
    "selector": Kind("register_selectors", "selector", "a model selector: the model with the best mean "
                     "accuracy on the sample datasets", SELECTOR, SELECTOR_TEST,
                     "mllbench run --method __NAME__ --tasks all\nmllbench leaderboard\n"
                     "mllbench -b lovm run --method __NAME__       # LOVM's tables, no model runs"),
    "captioner": Kind("register_captioners", "captioner", "a class captioner: fixed templates", CAPTIONER,
                      CAPTIONER_TEST, "mllbench --captioner __NAME__ run --method mll --tasks all"),
    "embedder": Kind("register_embedders", "embedder", "a text embedder: signed word hashing (numpy only)",
                     EMBEDDER, EMBEDDER_TEST, "mllbench --embedder __NAME__ run --method mll --tasks all\n"
                     "mllbench --embedder __NAME__:512 run --method mll   # 512 dimensions"),
    "dataset": Kind("register_dataset_sources", "dataset source", "a dataset source: an image folder, one "
                    "sub-folder per class", DATASET, DATASET_TEST,
                    '# in a benchmark definition (my-bench.json), a target task or sample dataset:\n'
                    '#   {"name": "pets", "source": "__NAME__", "root": "pets", "domain": "photo"}\n'
                    "mllbench -b my-bench.json tasks", ("numpy", "Pillow")),
    "model": Kind("register_model_providers", "model provider", "a model provider: open_clip models",
                  MODEL, MODEL_TEST, '# in a benchmark definition (my-bench.json), a hub model:\n'
                  '#   {"id": "vit-b-32", "provider": "__NAME__", "args": {"model": "ViT-B-32", '
                  '"pretrained": "openai"}}\nmllbench -b my-bench.json models',
                  ("numpy", "Pillow")),  # and torch + open_clip_torch: mllbench's torch extra (see docs/index.md)
}

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "mllbench plugin: __SUMMARY__"
requires-python = ">=3.10"
# mllbench itself is not listed: install this into the environment that has it
dependencies = [__DEPENDENCIES__]

[project.optional-dependencies]
test = ["pytest>=7"]

# how mllbench finds the plugin: `mllbench plugins` lists it under this name
[project.entry-points.mllbench]
"__NAME__" = "__MODULE__"

[tool.setuptools]
packages = ["__MODULE__"]

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
'''

README = '''# __DIST__

An mllbench plugin: __SUMMARY__. Made by
`mllbench new-plugin __NAME__ --kind __KIND__`; the code is in
`__MODULE__/__init__.py`, which implements the `__HOOK__` hook.
__EXTRA__
## Install

Into the environment where mllbench is installed:

```bash
pip install -e .
mllbench plugins          # lists "__NAME__" (distribution __DIST__)
```

## Use it

```bash
__USAGE__
```

## Test

```bash
pip install pytest && pytest
```

The tests load the plugin through mllbench's plugin host from the entry point
in `pyproject.toml`, so they pass before and after installing. Bump `version`
in `pyproject.toml` when the plugin's output changes: results record it and
the leaderboard shows it.
'''

MODEL_EXTRA = '''
Running models needs torch and open_clip: `pip install 'mllbench[torch]'`
(its pins keep a CPU torch; a bare `open_clip_torch` pulls a CUDA build).
'''


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


def render(text: str, values: dict[str, str]) -> str:
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
              "HOOK": spec.hook, "SUMMARY": spec.summary,
              "DEPENDENCIES": ", ".join(f'"{d}"' for d in spec.dependencies),
              "EXTRA": MODEL_EXTRA if kind == "model" else ""}
    values["USAGE"] = render(spec.usage, values)
    files = {"pyproject.toml": PYPROJECT, "README.md": README, f"{module}/__init__.py": spec.module,
             f"tests/test_{ident}.py": TEST_DOC + spec.test, "tests/conftest.py": CONFTEST}
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
