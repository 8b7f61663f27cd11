"""Time one model's image tower alone, then label it as `mllbench label` does, timed.

    python -m rehearsal.label_one DEFINITION REGISTRY MODEL_ID OUT_JSON --data DIR
           [--device cpu] [--batch-size 8] [--precision fp32] [--embedder minilm]

The model is loaded once (through the session, as labeling loads it); the
graph's first 100 images are decoded and preprocessed (timed, by JPEG size),
and the image tower runs alone (the provider's own forward call) on the first
three batches of them, in labeling's batch size: the limit labeling could
reach. Then the same loaded model labels the graph through the Python API:
``Session.ensure([model], [])``, the call `mllbench label` makes, with a
progress reporter that notes the time of each report. The product reports
after the node captions are encoded, then after every batch of images;
between them is the image side of labeling as the product runs it (decode,
preprocess, forward, write), whatever it does inside. Both rates leave out
the first batch (cold). Each image file (or shard) opened under the data
folder meanwhile is one decode (an audit hook counts them). One model per
process, so peak memory is this model's own. Writes one JSON object to
OUT_JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

RAW_BATCHES = 3  # forward passes timed alone: one cold batch, two timed
DECODED = 100  # images decoded and preprocessed alone (timed by JPEG size), at least


class Clock:
    """A progress reporter (``report(description, total) -> update(done, total)``) that keeps
    when each report of one line of work (``label <model>``) came and how many images were
    done by then; other lines (text encoding, say) are ignored."""

    def __init__(self, description: str, on_first: Callable[[], None]):
        self.description = description
        self.times: list[float] = []
        self.done: list[int] = []
        self._on_first = on_first

    def __call__(self, description: str, total: int) -> Callable[..., None]:
        if description != self.description:
            return lambda done, total_, **fields: None

        def update(done: int, total_: int, **fields: Any) -> None:
            if self.times and self.done[-1] >= total_:
                return  # the images are done (a later report is the label's assembly)
            if not self.times:
                self._on_first()
            self.times.append(time.perf_counter())
            self.done.append(done)
        return update


class Opens:
    """An audit hook counting files opened under ``root`` while ``on``: every image the
    sources decode is read by opening its file (imagefolder) or its shard (wds). The count is
    in shared memory, so the data-loader workers labeling forks (``passes.py``) add to it."""

    def __init__(self, root: Path):
        import multiprocessing

        self.root, self.on, self._count = str(root.resolve()), False, multiprocessing.Value("q", 0)

    @property
    def count(self) -> int:
        return self._count.value

    def __call__(self, event: str, args: tuple) -> None:
        if self.on and event == "open" and args:
            path = os.fspath(args[0]) if isinstance(args[0], (str, os.PathLike)) else ""
            if isinstance(path, str) and os.path.abspath(path).startswith(self.root):
                with self._count.get_lock():
                    self._count.value += 1


def reset_peak_rss() -> None:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_gb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return None


def gpu_peak_gb(reset: bool = False) -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    if reset:
        torch.cuda.reset_peak_memory_stats()
        return None
    return torch.cuda.max_memory_allocated() / 1e9


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def steady(times: list[float], done: list[int]) -> tuple[float, int]:
    """Seconds and images after the first batch (a cold one: allocations, kernels and caches
    warm up), or of every batch when there is only one."""
    if len(times) > 2:
        return times[-1] - times[1], done[-1] - done[1]
    return times[-1] - times[0], done[-1] - done[0]


def raw_forward(session, model_id: str) -> dict:
    """Load the model and run its image tower alone, on images decoded and preprocessed
    beforehand, in labeling's batches: the provider's own forward call (no_grad, autocast,
    device transfer, normalisation) and nothing else. The graph's first DECODED images (or
    RAW_BATCHES batches, if more) are decoded and preprocessed (timed per image, by size);
    the forward passes run on the first RAW_BATCHES batches (one cold, the rest timed): a rate
    needs no more, and forward passes are most of the rehearsal's time on a CPU."""
    import torch

    refs = session.graph().image_refs[:max(RAW_BATCHES * session.batch_size, DECODED)]  # graph built first
    model, load_s = timed(lambda: session.model(model_id))  # kept: labeling reuses it
    by_size: dict[str, list[float]] = {}  # "WxH" -> [images, decode s, preprocess s]
    tensors = []
    for ref in refs:
        image, decode = timed(lambda: session.open_image(ref))
        tensor, preprocess = timed(lambda: model.preprocess(image.convert("RGB")))
        tensors.append(tensor)
        row = by_size.setdefault(f"{image.width}x{image.height}", [0, 0.0, 0.0])
        row[0], row[1], row[2] = row[0] + 1, row[1] + decode, row[2] + preprocess
    batch = torch.stack(tensors[:RAW_BATCHES * session.batch_size])
    decode_s, preprocess_s = sum(r[1] for r in by_size.values()), sum(r[2] for r in by_size.values())
    size, times, done = session.batch_size, [time.perf_counter()], [0]
    gpu_peak_gb(reset=True)
    for i in range(0, len(batch), size):
        model._run(model.model.encode_image, batch[i:i + size])  # its .cpu() waits for the GPU
        times.append(time.perf_counter())
        done.append(min(i + size, len(batch)))
    seconds, images_timed = steady(times, done)
    return {"n_images": len(session.graph().image_refs), "decoded": len(refs), "raw_images": len(batch),
            "load_s": load_s, "decode_s": decode_s, "preprocess_s": preprocess_s,
            "forward_s": times[-1] - times[0], "raw_ips": images_timed / seconds,
            "forward_peak_gpu_gb": gpu_peak_gb(), "pixels": int(batch.shape[-1]),
            "transform": repr(model.preprocess), "by_size": by_size}


def label(session, model_id: str, opens: Opens) -> dict:
    """Label ``model_id`` through the session (as `mllbench label` does), timed by its reports."""
    clock = Clock(f"label {model_id}", on_first=lambda: setattr(opens, "on", True))
    session.report = clock
    reset_peak_rss()
    gpu_peak_gb(reset=True)
    start = time.perf_counter()
    session.ensure([model_id], [])
    opens.on = False
    if not clock.times:
        raise SystemExit(f"{model_id}: no progress line {clock.description!r} was reported (a label already in "
                         "the registry, or the product names its labeling line otherwise)")
    seconds, images = steady(clock.times, clock.done)
    return {"captions_s": clock.times[0] - start, "label_s": clock.times[-1] - clock.times[0],
            "label_ips": images / seconds, "batches": len(clock.times) - 1, "decodes": opens.count,
            "label_peak_rss_gb": peak_rss_gb(), "label_peak_gpu_gb": gpu_peak_gb()}


def measured_hub(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, Opens, Any]:
    """What both label scripts (this one, ``label_pass``) do first: the options they share parsed
    (``parser`` has each one's positionals), decodes under ``--data`` counted (``Opens``, off until
    the clock starts), the hub opened offline as ``mllbench label`` would."""
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", default=None)
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args(argv)

    from mllbench.api import open_hub

    opens = Opens(args.data)
    sys.addaudithook(opens)
    hub = open_hub(args.definition, args.registry, captioner="template", embedder=args.embedder,
                   device=args.device, batch_size=args.batch_size, precision=args.precision, offline=True)
    return args, opens, hub


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("definition", "registry", "model_id", "out"):
        parser.add_argument(name)
    args, opens, hub = measured_hub(parser, argv)
    result = {"model": args.model_id, "device": args.device, "batch_size": args.batch_size,
              **raw_forward(hub.session, args.model_id), **label(hub.session, args.model_id, opens)}
    result["ratio"] = result["label_ips"] / result["raw_ips"]
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
