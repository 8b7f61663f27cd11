"""Reads around the page cache: many scattered byte ranges of a file in one request to the kernel.

Why: a 10-class selection needs ~580 scattered image rows of 1.5 kB from each label. Through the
page cache each costs a 4 kB page (2.4 MB a label); read with ``O_DIRECT`` it costs its 512-byte
sectors (0.9 MB). But one ``pread`` after another waits on the disk each time, and a Python thread
back from each wait must retake the GIL from the threads scoring other labels. Linux's
asynchronous I/O (``io_submit`` / ``io_getevents``, called through ctypes with the GIL released)
asks for all of them at once and waits once: measured on 49 cold labels, ~75k rows/s from one
thread, ~94k from 8, as fast as the page cache's ``POSIX_FADV_WILLNEED`` and a third of its bytes.

Where the kernel or the file system offers none of it (not Linux, an architecture not listed,
AIO disabled, a file system without ``O_DIRECT``), the pool is not ``available`` or a read returns
False, and callers read through the page cache instead (``RowFile``).
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import threading

import numpy as np

SECTOR = 512  # what O_DIRECT reads at least: offsets, lengths and buffers are aligned to it
BATCH = 1024  # requests in flight per context (each context reserves this many of the system's aio-max-nr)
SYSCALLS = {"x86_64": (206, 207, 209, 208), "aarch64": (0, 1, 2, 4)}  # io_setup, io_destroy, io_submit, io_getevents
IOCB = np.dtype([("data", "<u8"), ("key", "<u4"), ("rw_flags", "<i4"), ("opcode", "<u2"), ("reqprio", "<i2"),
                 ("fildes", "<u4"), ("buf", "<u8"), ("nbytes", "<u8"), ("offset", "<i8"), ("reserved2", "<u8"),
                 ("flags", "<u4"), ("resfd", "<u4")])  # struct iocb (linux/aio_abi.h), little-endian
EVENT = np.dtype([("data", "<u8"), ("obj", "<u8"), ("res", "<i8"), ("res2", "<i8")])  # struct io_event


class DirectReads:
    """Kernel AIO contexts, one per thread reading at a time, taken from a pool and returned after each
    call. A context reserves ``BATCH`` of the system's ``aio-max-nr`` (65,536 by default), and destroying
    one waits ~36 ms for the kernel: the process shares one pool (:func:`direct_reads`), which the kernel
    frees at exit at no cost; :meth:`close` destroys a pool's contexts at once."""

    def __init__(self) -> None:
        self._calls = SYSCALLS.get(platform.machine()) if os.name == "posix" else None
        self._libc = ctypes.CDLL(None, use_errno=True) if self._calls else None
        if self._libc is not None:
            self._libc.syscall.restype = ctypes.c_long
        self._free: list[ctypes.c_ulong] = []
        self._made: list[ctypes.c_ulong] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @property
    def available(self) -> bool:
        return self._libc is not None

    def read(self, fd: int, offsets: np.ndarray, lengths: np.ndarray, buffer: np.ndarray) -> bool:
        """Read ``lengths[i]`` bytes at file offset ``offsets[i]`` of ``fd`` (opened with ``O_DIRECT``)
        into ``buffer`` one after another (all aligned to ``SECTOR``; ``buffer`` from :func:`aligned`).
        False where it could not: no AIO context (none here, or the system's ``aio-max-nr`` taken), or a
        read refused or short."""
        ctx = self._context()
        if ctx is None:
            return False
        try:
            place = np.cumsum(lengths) - lengths
            for lo in range(0, len(offsets), BATCH):
                part = slice(lo, lo + BATCH)
                if not self._batch(ctx, fd, offsets[part], lengths[part], buffer.ctypes.data + place[part]):
                    return False
            return True
        finally:
            with self._lock:
                self._free.append(ctx)

    def _batch(self, ctx: ctypes.c_ulong, fd: int, offsets: np.ndarray, lengths: np.ndarray,
               addresses: np.ndarray) -> bool:
        """One batch of reads asked at once, then waited for at once (the GIL released meanwhile)."""
        n = len(offsets)
        blocks = np.zeros(n, IOCB)  # opcode 0: IOCB_CMD_PREAD
        blocks["data"], blocks["fildes"], blocks["buf"] = np.arange(n), fd, addresses
        blocks["nbytes"], blocks["offset"] = lengths, offsets
        pointers = blocks.ctypes.data + np.arange(n, dtype=np.uint64) * IOCB.itemsize
        events = np.zeros(n, EVENT)
        _, _, submit, getevents = self._calls
        sent = 0
        while sent < n:
            got = self._libc.syscall(submit, ctx, ctypes.c_long(n - sent),
                                     ctypes.c_void_p(pointers.ctypes.data + 8 * sent))
            if got <= 0:
                break
            sent += got
        done = 0
        while done < sent:  # wait for what was sent even when not all was: its buffers must not be freed under it
            got = self._libc.syscall(getevents, ctx, ctypes.c_long(sent - done), ctypes.c_long(sent - done),
                                     ctypes.c_void_p(events.ctypes.data + EVENT.itemsize * done), None)
            if got < 0 and ctypes.get_errno() == errno.EINTR:  # a signal: wait on
                continue
            if got <= 0:
                raise OSError(ctypes.get_errno(), "io_getevents failed")
            done += got
        return sent == n and bool((events["res"][np.argsort(events["data"])] == lengths).all())

    def _context(self) -> ctypes.c_ulong | None:
        """A free context, set up if none is; None where AIO is not to be had."""
        with self._lock:
            if os.getpid() != self._pid:  # a forked child: its parent's contexts are not its own
                self._free, self._made, self._pid = [], [], os.getpid()
            if self._free:
                return self._free.pop()
            if self._libc is None:
                return None
            ctx = ctypes.c_ulong(0)
            if self._libc.syscall(self._calls[0], ctypes.c_long(BATCH), ctypes.byref(ctx)) != 0:
                if ctypes.get_errno() != errno.EAGAIN:  # ENOSYS, EPERM (a sandbox): none here, from now on
                    self._libc = None
                return None  # EAGAIN: the system's aio-max-nr is taken for now; AIO stays on for other reads
            self._made.append(ctx)
            return ctx

    def close(self) -> None:
        with self._lock:
            if self._libc is not None:
                for ctx in self._made:
                    self._libc.syscall(self._calls[1], ctx)
            self._made.clear()
            self._free.clear()


_SHARED: list[DirectReads] = []  # the process's pool (direct_reads)
_SHARED_LOCK = threading.Lock()


def direct_reads() -> DirectReads:
    """The process's pool of AIO contexts (made on first use)."""
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(DirectReads())
        return _SHARED[0]


def open_direct(path: str) -> int | None:
    """``path`` opened for reads around the page cache, or None where its file system refuses (tmpfs)."""
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECT"))
    except (AttributeError, OSError):  # no O_DIRECT on this platform, or not on this file system
        return None


def aligned(nbytes: int) -> np.ndarray:
    """``nbytes`` of memory starting on a page, as ``O_DIRECT`` reads need their buffers."""
    raw = np.empty(nbytes + 4096, np.uint8)
    return raw[-raw.ctypes.data % 4096:][:nbytes]


def sector_runs(first: np.ndarray, size: int | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(run offsets, run lengths, run of each range): the sectors holding ``size`` bytes (one size, or one
    each) at each of the increasing file offsets ``first``, ranges sharing or touching a sector in one run."""
    lo, hi = first // SECTOR * SECTOR, -(-(first + np.maximum(size, 1)) // SECTOR) * SECTOR
    run = np.concatenate([[0], np.cumsum(lo[1:] > hi[:-1])]).astype(np.int64)
    starts = np.flatnonzero(np.diff(run, prepend=-1))
    return lo[starts], np.maximum.reduceat(hi, starts) - lo[starts], run
