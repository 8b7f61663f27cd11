"""Scattered rows of a label's embeddings, read straight from the HDF5 file.

Why: a selection's undecided pairs need a few thousand image rows spread over a
label of ~0.5-1 GB. Through h5py each row is a call (~50 us) and a read that the
kernel widens by readahead (and HDF5 by its sieve buffer): the scattered rows of a
10-class task read nearly whole labels. Here each row's bytes are located once
(the dataset's chunk offsets) and all of them are asked of the disk at once: around
the page cache where the system allows (``O_DIRECT`` and kernel AIO,
``mllbench.pipeline.directio``: only their 512-byte sectors), else through it
(``POSIX_FADV_WILLNEED``: the device serves them in parallel; readahead off for this
descriptor, ``POSIX_FADV_RANDOM``; adjacent rows read in one ``pread``).
Only uncompressed datasets (contiguous or chunked), as labels are written, qualify.
"""
from __future__ import annotations

import mmap
import os

import h5py
import numpy as np

from mllbench.maths.mll import concat_ranges
from mllbench.pipeline.directio import aligned, DirectReads, open_direct, sector_runs

MERGE_BYTES = 4 * 2**10  # rows at most a page apart are read in one run: a page is read whole anyway
PAGE = 4096  # what the disk reads at least through the page cache (RowFile.pages)


class RowFile:
    """One label file opened for row reads beside h5py's handle (closed with :meth:`close`)."""

    def __init__(self, path: str, direct: DirectReads | None = None):
        self.fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_RANDOM)
        self._aio = direct if direct is not None and direct.available else None
        self._direct_fd = open_direct(path) if self._aio is not None else None
        self._starts: dict[str, tuple[np.ndarray, int] | None] = {}
        self._size = os.fstat(self.fd).st_size

    def _layout(self, data: h5py.Dataset) -> tuple[np.ndarray, int] | None:
        """(file offset of each chunk's first row, rows per chunk), or None when rows are not plain bytes."""
        if data.name not in self._starts:
            layout = None
            if data.compression is None and not data.id.get_create_plist().get_nfilters():
                if data.chunks is None:
                    offset = data.id.get_offset()
                    layout = None if offset is None else (np.array([offset], np.int64), len(data))
                else:
                    found: dict[int, int] = {}
                    data.id.chunk_iter(lambda info: found.__setitem__(info.chunk_offset[0], info.byte_offset))
                    per = data.chunks[0]
                    if len(found) == -(-len(data) // per):  # every chunk written
                        layout = (np.array([found[k * per] for k in range(len(found))], np.int64), per)
            self._starts[data.name] = layout
        return self._starts[data.name]

    def rows(self, data: h5py.Dataset, rows: np.ndarray) -> np.ndarray | None:
        """``data[rows]`` for sorted unique ``rows`` of a 2-D dataset; None when it is not plain bytes.
        The rows are read in their sectors (:meth:`_direct`) where the file allows; else a contiguous
        dataset's are copied from the file pages holding them (:meth:`_copy`), a chunked one's read in runs."""
        layout = self._layout(data)
        if layout is None or data.ndim != 2:
            return None
        starts, per = layout
        size = _row_bytes(data)
        first = starts[rows // per] + (rows % per) * size
        found = self._direct(first, size)
        if found is None:
            span = self._page_span(first, np.full(len(first), size, np.int64)) if len(starts) == 1 else None
            if span is None:
                return self._gather(data, first, np.ones(len(rows), np.int64))
            found = self._copy(*span, first)
        buf, at = found
        return np.lib.stride_tricks.sliding_window_view(buf, size)[at].view(data.dtype).reshape(len(rows), -1)

    def ranges(self, data: h5py.Dataset, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
        """``data[s:s + n]`` (rows along the first axis) for each (s, n) of a contiguous dataset, sorted
        by ``starts``, concatenated; None when it is not one. A selection reads thousands of ranges
        of 2-byte rivals: no loop per range, and no 64 kB HDF5 sieve buffer per slice."""
        layout = self._layout(data)
        if layout is None or data.ndim < 1 or len(layout[0]) != 1:
            return None
        keep = np.asarray(lengths, np.int64) > 0
        starts, lengths = np.asarray(starts, np.int64)[keep], np.asarray(lengths, np.int64)[keep]
        size = _row_bytes(data)
        first = int(layout[0][0]) + starts * size
        found = self._direct(first, lengths * size)
        if found is None:
            return self._gather(data, first, lengths)
        buf, at = found
        return buf[concat_ranges(at, lengths * size)].view(data.dtype).reshape((-1,) + data.shape[1:])

    def pages(self, data: h5py.Dataset, starts: np.ndarray,
              lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``data``'s byte ranges (s, n) of a contiguous 1-D uint8 dataset, sorted by ``starts``, in a buffer
        of the file's sectors (:meth:`_direct`) or, where the file cannot be read so, of its pages, and where
        each range starts in it: (buffer, at), ``buffer[at[i]:at[i] + n[i]]`` is range i; None when the
        dataset is not plain bytes. Why: a selection's first read is a few kB from each of thousands of
        nodes; asked of the disk at once, it costs no call per node (a pread each cost ~3 us). The pages
        are asked for ahead (:meth:`advise`), then copied from a mapping of the file in one numpy step."""
        found = self._byte_pages(data, starts, lengths)
        if found is None:
            return None
        got = self._direct(found[2], np.asarray(lengths, np.int64))
        return self._copy(*found) if got is None else got

    def advise(self, data: h5py.Dataset, starts: np.ndarray, lengths: np.ndarray) -> None:
        """Ask the disk for the pages :meth:`pages` would read, reading nothing (``POSIX_FADV_WILLNEED``):
        a selection asks for the next labels' first reads while it scores this one's."""
        found = self._byte_pages(data, starts, lengths)
        if found is not None:
            self._ask(found[0] * PAGE, found[1] * PAGE)

    @property
    def direct(self) -> bool:
        """Whether this file's ranges are read around the page cache (:meth:`_direct`)."""
        return self._direct_fd is not None and self._aio is not None

    def _byte_pages(self, data: h5py.Dataset, starts: np.ndarray,
                    lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(first page, pages, file offset) of byte ranges (s, n) of a contiguous 1-D uint8 dataset; None
        for another dataset, or where :meth:`_page_span` cannot map them."""
        layout = self._layout(data)
        if layout is None or data.ndim != 1 or data.dtype.itemsize != 1 or len(layout[0]) != 1:
            return None
        first = int(layout[0][0]) + np.asarray(starts, np.int64)
        span = self._page_span(first, lengths)
        return None if span is None else (*span, first)

    def _page_span(self, first: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(first page, pages) of each byte range at file offsets ``first``; None where they cannot be mapped
        (none, or the file's last page, not whole)."""
        page0 = first // PAGE
        page1 = (first + np.maximum(np.asarray(lengths, np.int64), 1) - 1) // PAGE
        if not len(first) or page1.max() >= self._size // PAGE:
            return None
        return page0, page1 - page0 + 1

    def _copy(self, page0: np.ndarray, count: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pages asked of the disk, then copied from a mapping of the file in one step, and where each
        range starts in them. The mapping is dropped at once: its pages would count in resident memory."""
        self._ask(page0 * PAGE, count * PAGE)
        whole = self._size // PAGE
        with mmap.mmap(self.fd, whole * PAGE, access=mmap.ACCESS_READ) as mapped:
            mapped.madvise(mmap.MADV_RANDOM)  # a page not asked for yet is read alone, not with its neighbours
            table = np.frombuffer(mapped, np.uint8).reshape(whole, PAGE)
            out = table[concat_ranges(page0, count)].reshape(-1)
            del table  # the mapping closes only once no array views it
        return out, (np.cumsum(count) - count) * PAGE + first % PAGE

    def _direct(self, first: np.ndarray, size: int | np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(buffer, at): the ``size`` bytes (one size, or one each) at each of the increasing file offsets
        ``first`` are ``buffer[at[i]:at[i] + size]``, read around the page cache (``mllbench.pipeline.directio``): only
        the 512-byte sectors holding them, a row of d = 768 float16 in 1.5 kB, not the 4 kB pages the page
        cache reads (a 10-class selection's ~580 scattered rows a label: 0.9 MB, not 2.4 MB). None where
        the file cannot be read so, or ``first`` goes back (a chunked dataset's chunks may lie in any
        order): the page cache reads them."""
        if not self.direct or not len(first) or (np.diff(first) <= 0).any():
            return None
        offsets, lengths, run = sector_runs(first, size)
        buf = aligned(int(lengths.sum()))
        if not self._aio.read(self._direct_fd, offsets, lengths, buf):
            self._aio = None  # refused (sectors larger than 512 bytes?) or no AIO context: the page cache reads
            # this file from now on
            return None
        return buf, (np.cumsum(lengths) - lengths)[run] + first - offsets[run]

    def _ask(self, first: np.ndarray, nbytes: np.ndarray) -> None:
        """Ask the disk for every byte range (file offset, length) at once: it serves them together."""
        for lo, n in zip(first.tolist(), nbytes.tolist()):
            os.posix_fadvise(self.fd, lo, n, os.POSIX_FADV_WILLNEED)

    def _gather(self, data: h5py.Dataset, first: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
        """The rows of ``data`` at file offsets ``first``, ``lengths`` rows from each, concatenated.
        Offsets at most ``MERGE_BYTES`` apart are read in one run (a run also ends where the next
        offset goes back: a dataset's chunks may lie in any order); every run is asked of the disk
        first, then read: a run of one range straight into its place, a merged one into a scratch
        buffer its ranges are copied from. None on a short read (h5py then reads it)."""
        size = _row_bytes(data)
        nbytes = np.asarray(lengths, np.int64) * size
        end = first + nbytes
        out = np.empty(int(nbytes.sum()), np.uint8)
        if len(first):
            cut = np.flatnonzero((first[1:] - end[:-1] > MERGE_BYTES) | (first[1:] < end[:-1])) + 1
            run_start = np.concatenate([[0], cut])
            run_first, run_end = first[run_start], np.maximum.reduceat(end, run_start)
            self._ask(run_first, run_end - run_first)
            view = memoryview(out)
            place = (np.cumsum(nbytes) - nbytes).tolist()
            offsets, sizes = first.tolist(), nbytes.tolist()
            ends = cut.tolist() + [len(first)]
            for lo, hi, a, b in zip(run_first.tolist(), run_end.tolist(), run_start.tolist(), ends):
                if b - a == 1:  # one range: read in place
                    if os.preadv(self.fd, [view[place[a]:place[a] + hi - lo]], lo) != hi - lo:
                        return None
                    continue
                scratch = bytearray(hi - lo)
                if os.preadv(self.fd, [scratch], lo) != hi - lo:
                    return None
                for i in range(a, b):
                    view[place[i]:place[i] + sizes[i]] = scratch[offsets[i] - lo:offsets[i] - lo + sizes[i]]
        return out.view(data.dtype).reshape((-1,) + data.shape[1:])

    def close(self) -> None:
        os.close(self.fd)
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self._direct_fd = None


def _row_bytes(data: h5py.Dataset) -> int:
    """Bytes of one row (an element of the first axis)."""
    return data.dtype.itemsize * int(np.prod(data.shape[1:], dtype=np.int64))
