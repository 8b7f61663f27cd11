"""Everything the rehearsal runs on: checkpoints, data and the definition (cached where built).

    python -m rehearsal.prepare {quick,full} WORK CHECKPOINTS OUT_JSON

A process of its own, so that the command that starts the product's processes
stays small (a forked child's peak RSS starts from its parent's) and torch is
loaded only where models are built. Writes the definition to
WORK/<size>/mll-paper-rehearsal.json and a summary (paths, class names, image
counts, seconds per part) to OUT_JSON.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import checkpoints, data, definition
from .spec import NAME, SIZES


def main(argv: list[str]) -> None:
    size_name, work, ckpt_root, out = argv[0], Path(argv[1]), Path(argv[2]), Path(argv[3])
    size = SIZES[size_name]
    start = time.perf_counter()
    paths = checkpoints.ensure(list(size.models), ckpt_root)
    built = time.perf_counter()
    data_dir = work / f"data-{size.name}"
    manifest = data.ensure(size, data_dir)
    generated = time.perf_counter()
    path = definition.write(size, work / size.name / f"{NAME}.json", data_dir, paths, manifest["names"])
    out.write_text(json.dumps({**manifest, "definition": str(path), "data_dir": str(data_dir),
                               "seconds": {"checkpoints": built - start, "data": generated - built}}))


if __name__ == "__main__":
    main(sys.argv[1:])
