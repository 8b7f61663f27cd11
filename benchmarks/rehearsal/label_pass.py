"""Label every model at once, as `mllbench label` does: models sharing a transform in one pass
over the images (mllbench/pipeline/passes.py), decoded by data-loader workers, timed.

    python -m rehearsal.label_pass DEFINITION REGISTRY OUT_JSON --data DIR MODEL_ID...
           [--device cpu] [--batch-size 8] [--precision fp32] [--embedder minilm]

In a registry of its own (no label there yet). A progress reporter notes when each model's
``label <model>`` line reports; a group's image side runs from the report after its first
shared batch (every member committed it: the cold batch left out) to its last report. Files
opened under the data folder (in this process or its decode workers) count the decodes.
Writes one JSON object: the groups (``passes.plan``), each model's report times, decodes, peak RSS.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

from rehearsal.label_one import gpu_peak_gb, measured_hub, peak_rss_gb


class Lines:
    """A progress reporter keeping, per ``label <model>`` line, (time, images done) of each report
    until the images are done (a later report is the label's assembly)."""

    def __init__(self):
        self.reports: dict[str, list[tuple[float, int]]] = {}

    def __call__(self, description: str, total: int) -> Callable[..., None]:
        if not description.startswith("label "):
            return lambda done, total_, **fields: None
        reports = self.reports.setdefault(description.removeprefix("label "), [])

        def update(done: int, total_: int, **fields: Any) -> None:
            if not (reports and reports[-1][1] >= total_):
                reports.append((time.perf_counter(), done))
        return update


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("definition", "registry", "out"):
        parser.add_argument(name)
    parser.add_argument("models", nargs="+")
    args, opens, hub = measured_hub(parser, argv)

    from mllbench.pipeline.passes import plan

    session, lines = hub.session, Lines()
    executor = session.executor
    session.graph()  # built before the clock: not labeling
    session.report = lines
    gpu_peak_gb(reset=True)
    opens.on, start = True, time.perf_counter()
    session.ensure(args.models, [])
    wall, opens.on = time.perf_counter() - start, False
    result = {"models": args.models, "n_images": len(session.graph().image_refs), "wall_s": wall,
              "groups": plan(session, args.models, executor.models_per_pass),
              "models_per_pass": executor.models_per_pass, "decode_workers": executor.workers,
              "decodes": opens.count, "reports": lines.reports, "batch_size": args.batch_size,
              "peak_rss_gb": peak_rss_gb(), "peak_gpu_gb": gpu_peak_gb()}
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
