"""Data types shared by the host and plugins (the public plugin API)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np


class MllbenchError(Exception):
    """An error the user can fix; the CLI prints it as one line, no traceback."""


@dataclass(frozen=True)
class ModelInfo:
    """A hub model as selectors see it: an id and its metadata."""

    id: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskInfo:
    """What a user tells the hub about a task: no images, no labels."""

    name: str
    classnames: tuple[str, ...]
    domain: str
    task_type: str
    templates: tuple[str, ...] = ("a photo of {}.",)


def entry_info(entry: dict, classnames: list[str]) -> TaskInfo:
    """A task's metadata from its definition entry: the one place for the defaults."""
    return TaskInfo(entry["name"], tuple(classnames), entry.get("domain", "natural picture"),
                    entry.get("task_type", "image classification"),
                    tuple(entry.get("templates", ["a photo of {}."])))


class VisionLanguageModel(Protocol):
    """A loaded model. Embeddings come back L2-normalised, float32."""

    def encode_images(self, images: Sequence[Any]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class ImageDataset(Protocol):
    """A target task or sample dataset with random access to its images."""

    info: TaskInfo
    wnids: tuple[str, ...] | None  # WordNet id per class, sample datasets only
    metadata: Mapping[str, Any]

    def __len__(self) -> int: ...

    def labels(self) -> np.ndarray: ...

    def image(self, index: int) -> Any: ...  # a PIL.Image


def iter_dataset(ds: ImageDataset) -> Iterator[tuple[Any, int]]:
    """The (image, label) iterator the task hook promises."""
    labels = ds.labels()
    for i in range(len(ds)):
        yield ds.image(i), int(labels[i])


Captioner = Callable[[str, str, str], list]
Embedder = Callable[[Sequence[str]], np.ndarray]


class LabelView(Protocol):
    """Read access to the semantic graph and the model labels (Eqs. 2-4)."""

    wnids: tuple[str, ...]
    names: tuple[str, ...]
    captions: tuple[str, ...]
    n_images: np.ndarray  # images per node

    def node_caption_embeddings(self) -> np.ndarray: ...

    def similarities(self, model_id: str, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def node_images(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def similarity_blocks(self, model_id: str, nodes: np.ndarray, max_bytes: int | None = ...,
                          pairs: tuple[np.ndarray, np.ndarray] | None = None,
                          ) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...

    def top_nodes(self, model_id: str, images: np.ndarray) -> np.ndarray: ...

    def decided_hits(self, model_id: str, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def dense_hits(self, model_id: str, nodes: np.ndarray, pairs: tuple[np.ndarray, np.ndarray],
                   max_bytes: int | None = ...) -> np.ndarray: ...

    def prefetch(self, model_id: str, selected: np.ndarray) -> None: ...

    def readable(self, model_id: str, images: np.ndarray) -> np.ndarray: ...


@dataclass
class SelectionContext:
    """Everything a selector may use. Deliberately no target images/labels."""

    task: TaskInfo
    models: tuple[ModelInfo, ...]
    labels: LabelView
    captions: Callable[[TaskInfo, str], list]  # (task, classname) -> captions
    embed: Embedder
    encode_text: Callable[[str, Sequence[str]], np.ndarray]  # (model id, texts)
    sample_tasks: tuple[TaskInfo, ...]  # sample datasets, at most max_sample_classes classes each
    sample_accuracy: Callable[[str, str], float]  # (model id, sample task)
    params: Mapping[str, Any] = field(default_factory=dict)
    # table benchmarks only: a task's shipped features, name -> (n_models,) (e.g. LOVM's for ModelGPT)
    precomputed: Callable[[str], Mapping[str, np.ndarray]] | None = None
    # one dict per session, shared by every task's context: a selector may keep work that does not
    # depend on the target task there (ModelGPT: sample-dataset features); key it by the selector's name
    memo: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactStatus:
    """Whether a model's weights or a dataset are on disk, for ``run --dry-run``.

    Model providers and dataset sources may attach ``factory.locate(args_or_entry,
    base_dir) -> ArtifactStatus`` to the factory they register; it must not
    download or load anything and must answer offline in milliseconds.
    """

    name: str
    kind: str  # "model" or "dataset"
    cached: bool
    where: str  # the local path it is (or will be) read from
    fetch: str = ""  # how to get it when not cached (a command or URL), "" when cached
    size_gb: float | None = None  # approximate download size
