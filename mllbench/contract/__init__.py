"""The plugin contract: the one module a plugin imports (``from mllbench.contract import ...``).

It holds the hook specifications (``hookimpl``; ``register_commands`` adds CLI commands), the
selector interface (:class:`Selector`, declared :class:`Option` s, :func:`as_selector` for old
bare functions), the reuse settings every selector shares (:data:`REUSE_OPTIONS`,
:class:`ReuseSettings`), the types a plugin receives and returns, and the helpers a plugin may
build on: the paper's equations as array functions, canonical text batches, the WordNet
reader, atomic file writes and the cache root. Built-in plugins import nothing else of mllbench
(``lint-imports`` checks it), so a third-party plugin can do everything they do.
``CONTRACT_VERSION`` and what may change between versions: docs/plugins.md, "Versions".
"""
from mllbench.contract.hookspecs import hookimpl, hookspec
from mllbench.contract.options import REUSE_OPTIONS, Option, ReuseSettings, check_params, check_value
from mllbench.contract.pixels import SharedPreprocessing, preprocess_key
from mllbench.contract.selector import FunctionSelector, Selector, as_selector
from mllbench.core.downloads import cache_root, offline, pinned_files
from mllbench.core.files import atomic_file, slug, write_json
from mllbench.core.types import (ArtifactStatus, Captioner, Embedder, ImageDataset, LabelView, MllbenchError,
                                 ModelInfo, SelectionContext, TaskInfo, VisionLanguageModel, entry_info,
                                 iter_dataset)
from mllbench.maths.mll import (TOP_NODES_MIN_WORK, class_precision, cosine, l2_normalize, node_hits,
                                precision_from_hits, reuse_metric, top_node_hits, transfer_matrix)
from mllbench.maths.textbatch import TEXT_BATCHING, canonical_rows
from mllbench.semantic.wordnet import gloss, wordnet

# 1: hooks, SelectionContext, Selector/Option; additions only within a version (docs/plugins.md)
CONTRACT_VERSION = 1

__all__ = [
    "CONTRACT_VERSION", "hookimpl", "hookspec", "Option", "REUSE_OPTIONS", "ReuseSettings", "Selector",
    "FunctionSelector", "as_selector", "check_params", "check_value", "SharedPreprocessing", "preprocess_key",
    "cache_root", "offline", "pinned_files", "atomic_file", "slug", "write_json",
    "ArtifactStatus", "Captioner", "Embedder", "ImageDataset", "LabelView", "MllbenchError", "ModelInfo",
    "SelectionContext", "TaskInfo", "VisionLanguageModel", "entry_info", "iter_dataset",
    "TOP_NODES_MIN_WORK", "class_precision", "cosine", "l2_normalize", "node_hits", "precision_from_hits",
    "reuse_metric", "top_node_hits", "transfer_matrix", "TEXT_BATCHING", "canonical_rows", "gloss", "wordnet",
]
