"""Hook specifications: the only way plugins extend mllbench.

Every ``register_*`` hook but ``register_commands`` hands the plugin a ``register``
callback (the simonw/llm style), so one plugin may register several things and the host
keeps the registries; ``register_commands`` hands it the CLI's click group.
pluggy lets an implementation accept fewer arguments than the spec names, so
these signatures only ever grow by new arguments, never by renames.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    import click

hookspec = pluggy.HookspecMarker("mllbench")
hookimpl = pluggy.HookimplMarker("mllbench")


@hookspec
def register_model_providers(register: Callable) -> None:
    """Register model providers: ``register(name, factory)``.

    ``factory(args: dict, base_dir: Path) -> mllbench.core.types.VisionLanguageModel``
    turns a hub entry's ``args`` (e.g. ``{"model": "ViT-B-32", "pretrained":
    "openai"}``) into a loaded model exposing ``encode_images``,
    ``encode_texts``, ``preprocess`` and ``tokenizer``. Loading happens only
    when a model must run; metadata comes from the benchmark definition.
    """


@hookspec
def register_dataset_sources(register: Callable) -> None:
    """Register dataset sources: ``register(name, factory)``.

    ``factory(entry: dict, base_dir: Path) -> mllbench.core.types.ImageDataset``
    reads a target task or sample dataset (class names, domain, task type,
    prompt templates, WordNet ids for sample datasets, and its (image, label)
    pairs) from wherever that source keeps it.
    """


@hookspec
def register_captioners(register: Callable) -> None:
    """Register caption generators: ``register(name, factory)``.

    ``factory(options: dict) -> Captioner`` where ``Captioner(classname,
    domain, task_type) -> list[str]`` describes one class (Section 4.2).
    """


@hookspec
def register_embedders(register: Callable) -> None:
    """Register text embedders: ``register(name, factory)``.

    ``factory(options: dict) -> Embedder`` where ``Embedder(texts) ->
    np.ndarray`` of shape (len(texts), d), used to match task classes to
    semantic-graph nodes by caption similarity.
    """


@hookspec
def register_selectors(register: Callable) -> None:
    """Register selection methods: ``register(name, selector)``.

    ``selector`` is a :class:`mllbench.contract.Selector`: its ``options`` (typed, with
    defaults and ranges: the CLI's flags, ``-p``, the Python API and ``mllbench plugins`` are
    made from them), ``select(ctx: SelectionContext) -> np.ndarray`` of shape (n_models,
    n_classes), higher meaning a better model for that class, and optionally ``prepare`` and
    ``scores_are_accuracy``. The context carries the task's class names, domain and task type,
    the hub, read access to the label registry and the caption and embedding services, never
    the task's images or labels. The harness does reuse (top-k per class, Eqs. 8-10)
    identically for every selector; the mean over classes is the selector's model ranking for
    the task (LOVM's R5, tau, regret). A bare function ``selector(ctx)`` (with attributes
    ``defaults``, ``prepare``, ``check_params``, ``scores_are_accuracy``) still works in
    contract version 1, with a DeprecationWarning.
    """


@hookspec
def register_benchmarks(register: Callable) -> None:
    """Register benchmark definitions: ``register(name, path_to_json)``.

    A definition names the hub (models with provider args and metadata), the
    target tasks and sample datasets, and the semantic-graph settings.
    """


@hookspec
def register_commands(cli: "click.Group") -> None:
    """Add commands to the ``mllbench`` command line (as simonw/llm does).

    ``cli`` is a ``click.Group``: ``@cli.command()`` on a function adds ``mllbench NAME``.
    The CLI asks for them when it lists or looks up a command it does not have itself, so a
    plugin's command never replaces a built-in one (it is reported by ``mllbench plugins``).
    """
