"""Text -> vector and class -> caption caches of the registry, and the canonical computation
that makes a cached vector a function of its text alone (``canonical_compute``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mllbench.core.files import atomic_file
from mllbench.core.types import MllbenchError
from mllbench.registry.files import (atomic_h5, fingerprint_json, locked, open_checked, same_make,  # noqa: F401
                                     text_key)

# How the vectors of a text cache or label were computed (their ``batching`` attribute): by
# ``canonical_compute`` of this version. Vectors of another version (or of before canonical
# batching) may differ in their last bits, so they are recomputed once.
CANONICAL_BATCHING = "canonical-2"
CHUNK_TEXTS = 256  # texts per call to a compute that batches canonically itself (a progress step)
MAX_PARTS = 32  # part files before they merge into one: every session opens each of them


def canonical_compute(compute: Callable[[list[str]], Any], texts: Sequence[str],
                      progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``compute`` on ``texts`` so that each text's vector is a function of the text alone,
    shortest first, in one torch thread (:class:`OneTorchThread`).

    It must not depend on the cache's history (which texts happened to be missing together)
    nor on ``--batch-size``: the last bits of a row depend on the batch it was computed in
    (see ``mllbench/textbatch.py``), and ModelGPT's 27-row regression turned such bits into
    a 0.264 vs 0.251 average. A compute that guarantees this itself gets many texts per
    call: ``text_batching`` (a scheme name: the built-in open_clip models and the MiniLM
    embedder batch texts of one token length in batches of one shape,
    ``mllbench.maths.textbatch``) or ``batch_invariant = True`` (a hashing embedder; a remote
    API, whose requests are taken not to mix texts; it gets all texts in one call). Any
    other compute gets each text alone, the only batch whose composition is a function of
    the text. With torch, the first call has one text: it may load the model (and torch),
    and is then redone in one thread.
    """
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), texts[i]))
    ordered = [texts[i] for i in order]
    if not ordered:
        return np.zeros((0, 0), np.float32)
    if getattr(compute, "batch_invariant", False):
        rows = np.asarray(compute(ordered), dtype=np.float32).reshape(len(ordered), -1)
    else:
        rows = _in_one_thread(compute, ordered, progress)
    out = np.empty_like(rows)
    out[order] = rows
    return out  # in the order of ``texts``


def _in_one_thread(compute: Callable[[list[str]], Any], ordered: list[str],
                   progress: Callable[[int, int], None] | None) -> np.ndarray:
    """canonical_compute's torch path: chunks for a ``text_batching`` compute, else one text a call."""
    many = bool(getattr(compute, "text_batching", None))
    with OneTorchThread() as threads:
        rows, i = [], 0
        while i < len(ordered):
            part = ordered[i:i + (CHUNK_TEXTS if many and rows else 1)]
            vectors = np.asarray(compute(part), dtype=np.float32).reshape(len(part), -1)
            if threads.started():  # torch came with the model this call loaded: redo it in one thread
                continue
            rows.append(vectors)
            i += len(part)
            if progress and (many or i % 32 == 0 or i == len(ordered)):
                progress(i, len(ordered))
    return np.concatenate(rows)


class OneTorchThread:
    """torch's intra-op threads set to one while text is computed canonically, then restored.

    A CPU matmul's last bits also depend on the thread count, so one thread makes a text's
    vector the same on machines with other core counts; and a batch of one text otherwise
    spends its time synchronising threads (measured on 2 loaded cores: 74 ms per text with
    one thread, 653 ms with two). torch is never imported here: ``started()`` says, once,
    that a compute call has just imported it (a model loaded lazily), and switches then.
    """

    def __init__(self):
        self._saved: int | None = None

    def __enter__(self) -> "OneTorchThread":
        self.started()
        return self

    def started(self) -> bool:
        torch = sys.modules.get("torch")
        if torch is None or self._saved is not None:
            return False
        self._saved = torch.get_num_threads()
        torch.set_num_threads(1)
        return True

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            sys.modules["torch"].set_num_threads(self._saved)


class KeyedArrays:
    """A text -> vector cache: one HDF5 file plus the rows added since, in small part files.

    Missing vectors are computed by :func:`canonical_compute`, so a cached vector is the same
    whatever was cached before and whatever ``--batch-size``. A miss writes only its new rows,
    as one atomically written part (``<file>.parts/<n>.h5``), so many small misses cost what
    they add, not calls x cache size; once the parts hold as many rows as the main file, all is
    compacted into it (each row rewritten O(log n) times). A part left by a crash between
    compaction and clean-up only repeats rows already there, which loading skips.
    """

    def __init__(self, path: Path, meta: dict[str, str], fingerprint: dict | None = None):
        self.path, self.meta, self.fingerprint = path, meta, fingerprint
        self.parts_dir = path.with_name(path.name + ".parts")
        self._keys: dict[bytes, int] = {}
        self._data = np.zeros((0, 0), np.float32)  # capacity grows by doubling; rows [:len(_keys)]
        self._base_rows = self._part_rows = 0
        self._batching = CANONICAL_BATCHING
        self._compact_next = False  # rows in memory that the files do not hold as they are
        if path.exists():
            keys, values, self._batching = self._read(path)
            self._append(keys, values)
            self._base_rows = len(self._keys)
        for part in self._parts():
            keys, values, batching = self._read(part)
            self._compact_next |= batching != self._batching
            self._part_rows += self._append(keys, values)

    def _read(self, path: Path) -> tuple[np.ndarray, np.ndarray, str]:
        """A file's rows; none from a file whose model was set up otherwise (another fingerprint:
        other weights, precision, preprocessing), whose rows are recomputed and replace it."""
        with open_checked(path, "text cache") as f:
            for name, value in self.meta.items():
                if f.attrs.get(name) != value:
                    raise MllbenchError(f"text cache {path} was made with {name}="
                                        f"{f.attrs.get(name)!r}, not {value!r}; delete it")
            if same_make(f.attrs.get("fingerprint"), self.fingerprint) is False:
                self._compact_next = True
                return np.zeros(0, "S40"), np.zeros((0, 0), np.float32), CANONICAL_BATCHING
            return f["key"][:], f["value"][:], f.attrs.get("batching", "")

    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("*.h5"), key=lambda p: int(p.stem)) if self.parts_dir.is_dir() else []

    def _append(self, keys: Sequence[bytes], values: np.ndarray) -> int:
        """Rows for keys not held yet (a part may repeat rows compacted before a crash); how many."""
        fresh = [i for i, k in enumerate(keys) if k not in self._keys]
        if not fresh:
            return 0
        n, values = len(self._keys), np.asarray(values)[fresh]
        if self._data.shape[1:] != values.shape[1:] or n + len(fresh) > len(self._data):
            grown = np.empty((max(2 * len(self._data), n + len(fresh)), *values.shape[1:]), values.dtype)
            if n:
                grown[:n] = self._data[:n]
            self._data = grown
        self._data[n:n + len(fresh)] = values
        for j, i in enumerate(fresh):
            self._keys[keys[i]] = n + j
        return len(fresh)

    def get(self, texts: Sequence[str], compute, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Vectors for ``texts``, computing (and storing) only the missing ones, canonically.

        A cache from before canonical batching is recomputed (once) unless ``compute`` is
        ``batch_invariant``, for which batching never mattered (no API call is repeated).
        """
        if self._batching != CANONICAL_BATCHING:
            if not getattr(compute, "batch_invariant", False):
                self._keys, self._data = {}, np.zeros((0, 0), np.float32)
            self._batching, self._compact_next = CANONICAL_BATCHING, True
        keys = [text_key(t) for t in texts]
        todo = {k: t for k, t in zip(keys, texts) if k not in self._keys}
        missing = sorted(todo.items(), key=lambda kt: (len(kt[1]), kt[1]))  # canonical_compute's order
        if missing:
            new = canonical_compute(compute, [t for _, t in missing], progress)
            self._append([k for k, _ in missing], new)
            self._save([k for k, _ in missing], new)
        return self._data[[self._keys[k] for k in keys]] if keys else np.zeros((0, 0), np.float32)

    def _save(self, keys: list[bytes], values: np.ndarray) -> None:
        """The new rows as one part, or everything compacted into the main file."""
        with locked(self.path.parent):
            parts = self._parts()
            self._part_rows += len(keys)
            if self._compact_next or self._part_rows > self._base_rows:
                self._write(self.path, sorted(self._keys, key=self._keys.get), self._data[:len(self._keys)])
                for part in parts:
                    part.unlink(missing_ok=True)
                self._base_rows, self._part_rows, self._compact_next = len(self._keys), 0, False
            else:
                number = int(parts[-1].stem) + 1 if parts else 0
                merge = len(parts) + 1 >= MAX_PARTS
                if merge:  # every part's rows (another writer's read first) and these, as one part
                    for part in parts:
                        self._append(*self._read(part)[:2])
                    held = sorted((i, k) for k, i in self._keys.items() if i >= self._base_rows)
                    keys, values = [k for _, k in held], self._data[self._base_rows:len(self._keys)]
                self._write(self.parts_dir / f"{number:06d}.h5", keys, values)
                if merge:
                    for part in parts:
                        part.unlink(missing_ok=True)

    def _write(self, path: Path, keys: Sequence[bytes], values: np.ndarray) -> None:
        with atomic_h5(path) as f:
            f.attrs.update({**self.meta, "batching": CANONICAL_BATCHING,
                            "fingerprint": fingerprint_json(self.fingerprint, strict=False)})
            f["key"] = np.array(keys, dtype="S40")
            f["value"] = values


class KeyedCaptions:
    """(class name, domain, task type) -> captions, in one JSON file per captioner and version.

    A cached run then needs no captioner at all: the template captioner's
    WordNet glosses, GPT's replies and the authors' files are all read back.
    """

    def __init__(self, path: Path):
        self.path = path
        self._data: dict[str, list[str]] = {}
        if path.exists():
            try:
                self._data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise MllbenchError(f"cannot read caption cache {path} ({exc}); delete it and rerun") from exc

    @staticmethod
    def _key(request: tuple[str, str, str]) -> str:
        return json.dumps(list(request), ensure_ascii=False)

    def get(self, requests: Sequence[tuple[str, str, str]], compute) -> list[list[str]]:
        """Captions for ``requests``, calling ``compute(missing_requests)`` only for the missing ones."""
        missing = [r for r in dict.fromkeys(requests) if self._key(r) not in self._data]
        if missing:
            for request, captions in zip(missing, compute(missing)):
                self._data[self._key(request)] = [str(c) for c in captions]
            with locked(self.path.parent), atomic_file(self.path) as tmp:
                tmp.write_text(json.dumps(self._data, ensure_ascii=False, sort_keys=True, indent=0), encoding="utf-8")
        return [list(self._data[self._key(r)]) for r in requests]
