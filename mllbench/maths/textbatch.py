"""Text batches in which a text's vector is a function of the text alone.

A result must not depend on which texts happened to be encoded together (the cache's
history, ``--batch-size``): on CPU and GPU the last bits of a row change with the batch's
shape (matmul blocking) and with padding to the batch's longest text, and ModelGPT's
27-row regression turned such bits into a 0.264 vs 0.251 average. Encoding each text
alone removes both, at ~3x the cost on CPU (per-call overhead dominates short texts).

The scheme here gets the same independence in batches: a batch holds texts of *one token
length* (so nothing is padded: every row's ops are the row's own) and always exactly
``CANONICAL_ROWS`` rows (so every matmul has one shape per length; a short batch is filled
up by repeating its first text, and the filler rows are dropped). What a row sees is then
fixed by its own tokens; ``tests/test_rerun_identity.py`` checks the result is bit-identical
for any cache history and batch size, and against neighbours at any position.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

CANONICAL_ROWS = 16  # rows per batch: big enough to amortise a forward's overhead, small waste
TEXT_BATCHING = f"same-length-{CANONICAL_ROWS}"  # stored with cached vectors: another scheme recomputes them


def same_length_batches(lengths: Sequence[int], rows: int = CANONICAL_ROWS) -> Iterator[tuple[np.ndarray, int]]:
    """``(indices, n_real)`` per batch: exactly ``rows`` indices of texts sharing one token
    length, the first ``n_real`` real and the rest repeats of the batch's first text."""
    lengths = np.asarray(lengths)
    for length in np.unique(lengths):
        members = np.flatnonzero(lengths == length)
        for start in range(0, len(members), rows):
            chunk = members[start:start + rows]
            yield np.concatenate([chunk, np.repeat(chunk[:1], rows - len(chunk))]), len(chunk)


def canonical_rows(lengths: Sequence[int], forward: Callable[[np.ndarray], Any],
                   rows: int = CANONICAL_ROWS) -> np.ndarray:
    """Stack ``forward(indices)`` over :func:`same_length_batches`, in the order of ``lengths``.

    ``forward`` gets the indices of one batch and returns one row (array-like) per index.
    """
    out: np.ndarray | None = None
    for indices, n_real in same_length_batches(lengths, rows):
        batch = np.asarray(forward(indices))[:n_real]
        if out is None:
            out = np.empty((len(lengths),) + batch.shape[1:], batch.dtype)
        out[indices[:n_real]] = batch
    return out if out is not None else np.zeros((0, 0), np.float32)
