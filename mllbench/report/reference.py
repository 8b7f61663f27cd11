"""Published accuracy tables as a second, clearly labelled ground truth.

The paper benchmark's own ground truth is each model's zero-shot accuracy
measured here with the paper's single prompt ("a photo of {class}"). Before
that is computed (days of GPU time), or beside it, a selector's model
ranking can be scored against a published table of the same models on the
same datasets, measured under another protocol: open_clip's zero-shot
results (CLIP_benchmark, prompt ensembles), which cover every model of the
paper's hub and 14 of its 17 target tasks. A benchmark entry names its
column as ``"reference": {"openclip": "<column>"}``; tasks without one are
left out and the leaderboard says so. Names map to readers in ``REFERENCES``.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable

import numpy as np

from mllbench.core.downloads import pinned_files
from mllbench.core.types import MllbenchError

OPENCLIP_URL = "https://raw.githubusercontent.com/mlfoundations/open_clip"
OPENCLIP_COMMIT = "89fb801f1e6087880e951fc8354b8a2077b79c6d"
OPENCLIP_FILE = "openclip_results.csv"


def openclip_csv() -> Path:
    """open_clip's results table: ``MLLBENCH_OPENCLIP_TABLE`` or a pinned download."""
    if os.environ.get("MLLBENCH_OPENCLIP_TABLE"):
        return Path(os.environ["MLLBENCH_OPENCLIP_TABLE"])
    folder = pinned_files("openclip", os.environ.get("MLLBENCH_OPENCLIP_URL", OPENCLIP_URL), OPENCLIP_COMMIT,
                          {OPENCLIP_FILE: f"docs/{OPENCLIP_FILE}"},
                          "set MLLBENCH_OPENCLIP_TABLE to a copy of open_clip's docs/openclip_results.csv")
    return folder / OPENCLIP_FILE


def read_openclip(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Rows of open_clip's table keyed by (architecture, pretrained tag)."""
    try:
        with open(path, newline="") as f:
            return {(r["name"], r["pretrained"]): r for r in csv.DictReader(f)}
    except (OSError, KeyError, csv.Error) as exc:
        raise MllbenchError(f"cannot read open_clip's results table {path}: {exc}") from exc


def openclip_truth(models: list[dict], targets: list[dict]) -> tuple[np.ndarray, list[str]]:
    """(n_models, n_tasks kept) published accuracies and the names of the tasks kept."""
    rows = read_openclip(openclip_csv())
    kept = [t for t in targets if t.get("reference", {}).get("openclip")]
    if not kept:
        raise MllbenchError("no target task of this benchmark names an open_clip results column "
                            "(\"reference\": {\"openclip\": ...}); use --truth measured")
    truth = np.empty((len(models), len(kept)))
    for i, m in enumerate(models):
        key = (m.get("args", {}).get("model", ""), m.get("args", {}).get("pretrained", ""))
        if key not in rows:
            raise MllbenchError(f"model {m['id']!r} is not in open_clip's results table; use --truth measured")
        for j, t in enumerate(kept):
            truth[i, j] = float(rows[key][t["reference"]["openclip"]])
    return truth, [t["name"] for t in kept]


REFERENCES: dict[str, Callable[[list[dict], list[dict]], tuple[np.ndarray, list[str]]]] = {
    "openclip": openclip_truth,
}
