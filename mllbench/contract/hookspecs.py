"""Hook specifications: the only way plugins extend mllbench.

Every hook hands the plugin a ``register`` callback (the simonw/llm style), so
one plugin may register several things and the host keeps the registries.
pluggy lets an implementation accept fewer arguments than the spec names, so
these signatures only ever grow by new arguments, never by renames.
"""
from __future__ import annotations

from typing import Callable

import pluggy

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

    ``selector(ctx: mllbench.core.types.SelectionContext) -> np.ndarray`` returns
    scores of shape (n_models, n_classes), higher meaning a better model for
    that class. The context carries the task's class names, domain and task
    type, the hub, read access to the label registry and the caption and
    embedding services, never the task's images or labels. The harness does
    reuse (top-k per class, Eqs. 8-10) identically for every selector. The
    mean over classes is the selector's model ranking for the task (LOVM's
    R5, tau, regret); a selector whose scores predict accuracy says so with an
    attribute ``selector.scores_are_accuracy = lambda params: True`` (LOVM's L1).
    A selector may declare its parameters' defaults, ``selector.defaults =
    {"name": value}``: leaderboard labels leave out parameters equal to them.
    A selector that runs hub models (text encoders, sample-dataset ground
    truth) may declare ``selector.prepare = lambda contexts: ...``: ``run``
    calls it once with every task's context before selecting task by task,
    so it can do each model's work for all tasks while that model is loaded
    (the harness holds one model at a time); ``ctx.memo`` keeps what does not
    depend on the target task across tasks.
    """


@hookspec
def register_benchmarks(register: Callable) -> None:
    """Register benchmark definitions: ``register(name, path_to_json)``.

    A definition names the hub (models with provider args and metadata), the
    target tasks and sample datasets, and the semantic-graph settings.
    """
