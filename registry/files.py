"""The registry's file primitives: HDF5 files written whole and checked on open, text keys,
fingerprints (how stored vectors were made) and the per-directory write lock. Shared by the
caches (``caches``) and the store (``store``), which import it; it imports neither."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import h5py
import numpy as np

from mllbench.core.files import atomic_file
from mllbench.core.types import MllbenchError

SCHEMA_VERSION = 1
STR = h5py.string_dtype("utf-8")


@lru_cache(maxsize=2**17)  # a run looks up each graph caption once per task
def text_key(text: str) -> bytes:
    """Content key of a text (captions, prompts): sha1 hex as bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest().encode()


@contextlib.contextmanager
def atomic_h5(path: Path) -> Iterator[h5py.File]:
    """Write a whole HDF5 file under a temporary name, then move it in place."""
    with atomic_file(path) as tmp:
        # datasets of 64 kB or more start on a page: a label's rival blocks are laid out page by page
        with h5py.File(tmp, "w", alignment_threshold=2**16, alignment_interval=4096) as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            yield f
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())


def open_checked(path: Path, what: str, random_access: bool = False, **options: Any) -> h5py.File:
    """Open a registry file for reading, checking its schema version (``options``: h5py.File's).

    ``random_access``: no readahead on the file (``POSIX_FADV_RANDOM``), for a file of which a few
    parts are read: the kernel would read up to its readahead window (8 MB here) past each read,
    ~12 MB of a selection's reads of the graph, and more of a label's."""
    try:
        f = h5py.File(path, "r", **options)
    except OSError as exc:
        raise MllbenchError(f"cannot read {what} at {path} ({exc}); delete it and rerun") from exc
    handle = f.id.get_vfd_handle() if random_access and f.driver == "sec2" else None
    if isinstance(handle, int) and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(handle, 0, 0, os.POSIX_FADV_RANDOM)
    version = int(f.attrs.get("schema_version", -1))
    if version != SCHEMA_VERSION:
        f.close()
        raise MllbenchError(f"{what} at {path} has schema {version}, this mllbench reads "
                            f"{SCHEMA_VERSION}; delete it and rerun `mllbench label`")
    return f


# Fingerprints: how a stored vector set was made (the model's weights, precision and
# preprocessing; its provider's ``fingerprint``, see ``Benchmark.model_fingerprint``), as one
# JSON attribute ``fingerprint``. A finished file is reused when the keys that decide its
# values match; the ENVIRONMENT_KEYS (where and with what it ran) are recorded, and must
# match too for a partial file to be resumed, so that no file mixes rows made differently.
ENVIRONMENT_KEYS = ("device", "torch", "open_clip")


def fingerprint_json(fingerprint: dict | None, strict: bool = True) -> str:
    """The canonical text of a fingerprint ("" for none); ``strict=False`` leaves the environment out."""
    if not fingerprint:
        return ""
    kept = fingerprint if strict else {k: v for k, v in fingerprint.items() if k not in ENVIRONMENT_KEYS}
    return json.dumps(kept, sort_keys=True, default=str)


def same_make(stored: Any, wanted: dict | None, strict: bool = False) -> bool | None:
    """Whether a file's ``fingerprint`` attribute matches ``wanted``; None for a file made before
    fingerprints (or when nothing is wanted), which callers accept (docs/registry.md)."""
    if not stored or not wanted:
        return None
    try:
        made = json.loads(stored)
    except ValueError:
        return False
    unknown = [k for k, v in wanted.items() if v is None]  # e.g. a checkpoint not on this machine
    made = {k: v for k, v in made.items() if k not in unknown}
    return fingerprint_json(made, strict) == fingerprint_json({k: wanted[k] for k in wanted if k not in unknown},
                                                              strict)


def check_finite(values: np.ndarray, model_id: str, names: Callable[[int], str]) -> None:
    """Refuse vectors with NaN or inf before they are stored, naming the model and the first bad row."""
    bad = ~np.isfinite(np.asarray(values, np.float32)).reshape(len(values), -1).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MllbenchError(f"{model_id} produced NaN/inf for {names(row)} ({int(bad.sum())} of {len(values)} "
                            "rows); try --precision fp32 or check the model's weights")


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One writer at a time per directory (advisory flock)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
