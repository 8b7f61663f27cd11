"""registry.store.KeyedArrays: a miss writes only its new rows (a part file), compaction is
geometric, and a reload after any sequence of misses, or after a crash that left a part
repeating compacted rows, gives the same vectors."""
from __future__ import annotations

import shutil

import h5py
import numpy as np

from mllbench.registry.store import KeyedArrays


def compute(texts):
    """A deterministic invariant 'encoder': the text's bytes, padded."""
    out = np.zeros((len(texts), 8), np.float32)
    for i, t in enumerate(texts):
        codes = [ord(c) for c in t[:8]]
        out[i, :len(codes)] = codes
    return out


compute.batch_invariant = True


class Counting(KeyedArrays):
    """The real cache, counting the rows each file write carries."""

    written: list[int]

    def _write(self, path, keys, values):
        self.written = getattr(self, "written", []) + [len(keys)]
        super()._write(path, keys, values)


def test_misses_write_their_rows_not_the_cache(tmp_path):
    cache = Counting(tmp_path / "c.h5", {"model_id": "m"})
    texts = [f"t{i:03d}" for i in range(200)]
    for t in texts:  # 200 misses of one text each
        cache.get([t], compute)
    # rewriting the cache on every miss would write 1 + 2 + ... + 200 = 20,100 rows
    assert sum(cache.written) < 200 * 10, sum(cache.written)
    assert len(cache.written) == 200 and max(cache.written) <= 200
    assert len(list(cache.parts_dir.glob("*.h5"))) < 32  # parts merge: a session opens few files
    again = KeyedArrays(tmp_path / "c.h5", {"model_id": "m"})
    np.testing.assert_array_equal(again.get(texts, compute), compute(texts))


def test_a_part_repeating_compacted_rows_is_read_once(tmp_path):
    cache = KeyedArrays(tmp_path / "c.h5", {"model_id": "m"})
    cache.get(["a"], compute)
    cache.get(["bb"], compute)  # a part
    part = sorted(cache.parts_dir.glob("*.h5"))[0]
    shutil.copy(part, tmp_path / "kept.h5")
    cache.get(["ccc"], compute)  # compaction removes the part...
    assert not list(cache.parts_dir.glob("*.h5"))
    shutil.copy(tmp_path / "kept.h5", cache.parts_dir / "000007.h5")  # ...unless a crash kept it
    again = KeyedArrays(tmp_path / "c.h5", {"model_id": "m"})
    np.testing.assert_array_equal(again.get(["ccc", "bb", "a"], compute), compute(["ccc", "bb", "a"]))
    with h5py.File(tmp_path / "c.h5") as f:
        assert len(f["key"]) == 3


def test_new_rows_are_readable_by_a_second_reader_at_once(tmp_path):
    one = KeyedArrays(tmp_path / "c.h5", {"model_id": "m"})
    one.get(["a", "b"], compute)
    one.get(["c"], compute)  # a part only
    two = KeyedArrays(tmp_path / "c.h5", {"model_id": "m"})
    calls = []
    two.get(["a", "b", "c"], lambda texts: calls.append(texts) or compute(texts))
    assert calls == []
