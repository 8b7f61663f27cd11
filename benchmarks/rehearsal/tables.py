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


def pass_rate(reports: Sequence[Sequence[list[float]]], n_images: int) -> float:
    """A group's images/s in a pass: from the report after its first batch (every member has
    committed it: the cold batch left out) to its last report; all of it with one batch only."""
    after_first = [next((t for t, done in r if done > 0), r[-1][0]) for r in reports]
    start, end = max(after_first), max(r[-1][0] for r in reports)
    first_done = min(next((done for _, done in r if done > 0), 0) for r in reports)
    if end > start and n_images > first_done:
        return (n_images - first_done) / (end - start)
    begin = min(r[0][0] for r in reports)
    return n_images / (end - begin)


def one_pass(results: Sequence[dict], passed: dict) -> str:
    """Per group of models labelled together (`mllbench label`): its pass against the sum of its
    models' image towers alone and against labeling them one at a time; then the decodes."""
    by_model = {r["model"]: r for r in results}
    n = passed["n_images"]
    rows = []
    for group in passed["groups"]:
        label = pass_rate([passed["reports"][m] for m in group], n)
        forward = 1 / sum(1 / by_model[m]["raw_ips"] for m in group)
        single = 1 / sum(1 / by_model[m]["label_ips"] for m in group)
        rows.append([", ".join(m.split("/")[0] for m in group), by_model[group[0]]["pixels"], len(group), fmt(label),
                     fmt(forward), fmt(label / forward), fmt(single), fmt(label / single)])
    transforms = len({by_model[m]["transform"] for m in passed["models"]})
    single_decodes = sum(r["decodes"] for r in results)
    notes = [f"- `mllbench label` on every model at once: groups of at most {passed['models_per_pass']} models "
             f"sharing a transform, {passed['decode_workers']} decode worker(s), batch {passed['batch_size']}; "
             f"{fmt(passed['wall_s'], 1)} s wall (captions, images, label assembly), peak RSS "
             f"{fmt(passed['peak_rss_gb'])} GB. img/s of the group (an image counts once, all its models done) "
             "after the first batch; forward alone: 1 / sum over the group of each tower's s/img; "
             "one at a time: 1 / sum of each model's labeling s/img (the table above).",
             f"- decodes: {passed['decodes']} in the pass for {len(passed['models'])} models x {n} graph images "
             f"({transforms} distinct transform(s): one decode per transform is {transforms * n}); "
             f"one model at a time: {single_decodes}."]
    headers = ["models (one pass)", "px", "n", "pass img/s", "forward img/s", "pass / forward", "one at a time img/s",
               "speed-up"]
    return markdown(headers, rows) + "\n\n" + "\n".join(notes)
