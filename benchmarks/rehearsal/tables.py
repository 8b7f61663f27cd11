"""The rehearsal's tables (markdown, so the same text goes to the terminal and to docs)."""
from __future__ import annotations

from typing import Sequence

GOAL = 0.9  # labeling at >= 0.9x the image tower alone (issue 22)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; numbers right-aligned."""
    def cell(value: object) -> str:
        return "—" if value is None else str(value)

    text = [[cell(v) for v in row] for row in rows]
    right = [all(r[i].replace(".", "").replace("—", "").replace("-", "").isdigit() or r[i] == "—"
                 for r in text) for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in text]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 2) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def pixel_count(shape: str) -> int:
    width, height = shape.split("x")
    return int(width) * int(height)


def per_image_ms(seconds: float, r: dict) -> str | None:
    return fmt(1e3 * seconds / r["decoded"], 1)


def serial_bound(r: dict) -> float:
    """label / forward if labeling did nothing but decode, preprocess and forward, one after the
    other: forward / (decode + preprocess + forward) per image. Steadier than the measured ratio
    on a shared machine (each term is timed over many images)."""
    forward = 1 / r["raw_ips"]
    return forward / (forward + (r["decode_s"] + r["preprocess_s"]) / r["decoded"])


def throughput(results: Sequence[dict]) -> str:
    """Per model: labeling vs the image tower alone, where the time goes, memory; then decodes."""
    gpu = any(r["label_peak_gpu_gb"] is not None for r in results)
    headers = ["model", "px", "images (batches)", "label img/s", "forward img/s", "label / forward",
               "serial bound", "decode ms/img", "preprocess ms/img", "forward ms/img", "load s", "captions s",
               "decodes", "peak RSS GB"] + (["peak GPU GB (label / forward)"] if gpu else [])
    rows = []
    for r in results:
        row = [r["model"], r["pixels"], f"{r['n_images']} ({r['batches']})", fmt(r["label_ips"]),
               fmt(r["raw_ips"]), fmt(r["ratio"]), fmt(serial_bound(r)), per_image_ms(r["decode_s"], r),
               per_image_ms(r["preprocess_s"], r), fmt(1e3 / r["raw_ips"], 1), fmt(r["load_s"], 1),
               fmt(r["captions_s"], 1), r["decodes"], fmt(r["label_peak_rss_gb"])]
        if gpu:
            row.append(f"{fmt(r['label_peak_gpu_gb'])} / {fmt(r['forward_peak_gpu_gb'])}")
        rows.append(row)
    notes = ["- img/s after the first batch (cold); forward alone: the first 3 batches of the graph's images, "
             "decoded and preprocessed beforehand with the graph's first 100 (the ms/img columns); serial bound: "
             "forward / (decode + preprocess + forward), the ratio a loop that decodes before each batch can "
             "reach; captions: the node captions through the text tower (labeling's first step)."]
    return markdown(headers, rows) + "\n\n" + "\n".join(notes + findings(results))


def findings(results: Sequence[dict]) -> list[str]:
    """Decodes against one per transform, decoding cost by JPEG size, and the goal per architecture
    with the reason it is missed."""
    n = results[0]["n_images"]
    transforms = {r["transform"] for r in results}
    decodes = sum(r["decodes"] for r in results)
    lines = [f"- decodes while labeling: {decodes} for {len(results)} models x {n} graph images; "
             f"{len(transforms)} distinct transform(s) among them, so one decode per transform "
             f"would be {len(transforms) * n}."]
    first = results[0]
    sizes = sorted(first["by_size"].items(), key=lambda kv: pixel_count(kv[0]))
    lines.append(f"- decode + preprocess per JPEG size ({first['model']}'s transform, {first['pixels']} px): "
                 + ", ".join(f"{shape} {1e3 * decode / count:.1f} + {1e3 * prep / count:.1f} ms"
                             for shape, (count, decode, prep) in sizes) + ".")
    met = [r["model"] for r in results if r["ratio"] >= GOAL]
    lines.append(f"- goal label / forward >= {GOAL}: met by {', '.join(met) or 'none'}.")
    for r in results:
        if r["ratio"] < GOAL:
            side = 1e3 * (r["decode_s"] + r["preprocess_s"]) / r["decoded"]
            lines.append(f"- short: {r['model']} at {r['ratio']:.2f}: decoding + preprocessing, done in the "
                         f"labeling loop before each batch, cost {side:.1f} ms per image against "
                         f"{1e3 / r['raw_ips']:.1f} ms of forward pass.")
    return lines


def steps(rows: Sequence[tuple[str, float, float | None, float | None]]) -> str:
    """Each step's wall time, its process's CPU time (user + system) and peak RSS, and the totals."""
    body = [[name, fmt(wall, 1), fmt(cpu, 1), fmt(rss)] for name, wall, cpu, rss in rows]
    total = [sum(row[i] or 0 for row in rows) for i in (1, 2)]
    return markdown(["step", "wall s", "CPU s", "peak RSS GB"], body + [["total", fmt(total[0], 1), fmt(total[1], 1),
                                                                          None]])
