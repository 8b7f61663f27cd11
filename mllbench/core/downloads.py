"""Small public files fetched once, pinned to a commit, and cached.

LOVM's tables and the MLL authors' captions are plain files in public GitHub
repositories. mllbench ships neither; a user either points at a copy or lets
mllbench fetch the files once from a URL pinned to one commit (so the numbers
never drift), into ``~/.cache/mllbench/<name>/<commit>``. Each file is
written to a temporary name and renamed, so an interrupted download leaves
no half file; offline (``--offline``), nothing is fetched and the error says
which files are missing and how to supply them.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping

from mllbench.core.files import atomic_file
from mllbench.core.types import MllbenchError


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mllbench"


def offline() -> bool:
    """``mllbench --offline`` (HF_HUB_OFFLINE alone governs only the Hugging Face hub)."""
    return os.environ.get("MLLBENCH_OFFLINE") == "1"


def pinned_files(name: str, base_url: str, commit: str, files: Mapping[str, str], hint: str) -> Path:
    """A local folder holding ``files`` (local path -> path under ``base_url/commit``), fetched if missing.

    The files land under ``<cache>/<name>/<commit>/``; ``hint`` tells the
    user how to supply them themselves when fetching is impossible.
    """
    folder = cache_root() / name / commit
    missing = [local for local in files if not (folder / local).is_file()]
    if missing and offline():
        raise MllbenchError(f"{name}: {len(missing)} file(s) not cached ({', '.join(missing[:3])}"
                            f"{', ...' if len(missing) > 3 else ''}) and offline; {hint}")
    for local in missing:
        url = f"{base_url.rstrip('/')}/{commit}/{files[local]}"
        try:
            with atomic_file(folder / local) as tmp, urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
                tmp.write_bytes(response.read())
        except (urllib.error.URLError, OSError) as exc:
            raise MllbenchError(f"{name}: cannot download {url} ({exc}); {hint}") from exc
    return folder
