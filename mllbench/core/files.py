"""File primitives every floor uses: atomic whole-file writes, file-safe names, compact JSON.

Why here and not in the registry: downloads, plugins' caches and results all write files, and
none of them may leave half a file behind; one implementation keeps that promise everywhere.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterator


def slug(name: str) -> str:
    """A file-safe, collision-free name for a model or task id."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80]
    return f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; moved in place if the block succeeds, removed if not.

    Every whole-file write of mllbench goes through here, so a reader never
    sees half a file and an interrupted write leaves nothing behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: dict) -> None:
    """Atomic JSON write, indented, but each array of numbers on one line: a result's
    per-image predictions would otherwise take a line per image."""
    text = _NUMBER_ARRAY.sub(lambda m: "".join(m.group(0).split()), json.dumps(data, indent=1, sort_keys=False))
    with atomic_file(path) as tmp:
        tmp.write_text(text)


# an indented array of numbers; a literal newline never occurs inside a JSON string, so this matches no string
_NUMBER_ARRAY = re.compile(r"\[\n[-+.\deE,\s]*\]")
