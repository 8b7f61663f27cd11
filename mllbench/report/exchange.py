"""Result exchange between registries: ``mllbench results export`` and ``mllbench results import``.

Why: a result costs a run; sharing the result JSONs lets one leaderboard show
everyone's selectors. An export is one gzip'd JSON file: a header (format,
version, benchmark name, ``benchmark_hash``, ``graph_hash``) and the results,
every field as stored (per-image predictions included).

Import is all or nothing: every file and every result is validated against the
local benchmark definition and registry before anything is written, so a bad
file leaves the registry as it was. It reads JSON only (nothing in a file is
executed) and names the files it writes from a hash of each result's content,
never from a path in the file; the only content-derived path part, the method
name, must be a plain name. A result already present is skipped: a duplicate is
a result with the same content and configuration (method, parameters, hub,
hashes, per-task outcomes), whenever and wherever it was made; the volatile
keys (``VOLATILE``: when it was written, how long it and each task took, on
which machine, its import hops) are not part of its identity. Each imported
result gains ``"imported": [{"file", "at"}]``, one entry per import hop.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from mllbench.core.version import __version__
from mllbench.core.types import MllbenchError

FORMAT = "mllbench-results"
VERSION = 1
PROVENANCE = "imported"
# Keys that say when, how fast and where a result was made, not what it is: two runs of one
# configuration that give the same outcomes are one result, even when written in the same second.
VOLATILE = frozenset({"created", "elapsed_s", "environment", PROVENANCE, "_path"})
VOLATILE_PER_TASK = frozenset({"timing_s"})  # each task's select/reuse seconds
MAX_BYTES = 1 << 31  # decompressed; a larger file is refused rather than read into memory
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}")  # a results/<benchmark>/<method>/ folder name
REEXPORT = "export it again with `mllbench results export`"


@dataclass(frozen=True)
class Local:
    """What an exchange file must match: the local benchmark definition and registry."""

    benchmark: str
    benchmark_hash: str
    graph_hash: str | None  # the registry's graph.h5; None: none yet, or a table benchmark
    needs_graph: bool  # False for table benchmarks, whose results carry graph_hash null


@dataclass
class Imported:
    """What an import did (or, on a dry look, would do)."""

    written: list[Path] = field(default_factory=list)
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)


def local_reference(session: Any) -> Local:
    """The session's benchmark hash (as ``run_method`` records it) and its registry's graph hash,
    read as stored: an export or import builds no graph."""
    from mllbench.registry.store import load_graph

    bench = session.bench
    graph = load_graph(session.store) if bench.needs_graph else None
    return Local(bench.name, bench.content_hash(), graph.hash if graph is not None else None, bench.needs_graph)


def identity(result: dict) -> str:
    """A result's content hash, leaving out the ``VOLATILE`` keys (and each task's timings):
    equal results, one file."""
    content = {k: v for k, v in result.items() if k not in VOLATILE}
    if isinstance(content.get("tasks"), dict):
        content["tasks"] = {name: {k: v for k, v in entry.items() if k not in VOLATILE_PER_TASK}
                            if isinstance(entry, dict) else entry for name, entry in content["tasks"].items()}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def default_export_name(benchmark: str) -> Path:
    return Path(re.sub(r"[^A-Za-z0-9._-]+", "_", benchmark).strip("._") + "-results.json.gz")


def export_results(results: Sequence[dict], local: Local, out: Path) -> tuple[int, int]:
    """Write ``results`` (``leaderboard.load_results``'s) made on the local definition and graph to
    ``out``; return (exported, left out). Results of an older definition or graph are left out:
    no registry could import them beside current ones."""
    graph = local.graph_hash
    if graph is None and local.needs_graph and results:
        graph = results[-1].get("graph_hash")  # no graph.h5 (a copied registry): the newest result's
    keep = [{k: v for k, v in r.items() if k != "_path"} for r in results
            if r.get("benchmark_hash") == local.benchmark_hash and r.get("graph_hash") == graph]
    if not keep:
        raise MllbenchError(f"none of the {len(results)} results of benchmark {local.benchmark!r} was made on its "
                            f"current definition (hash {local.benchmark_hash}) and graph; rerun them first")
    payload = {"format": FORMAT, "version": VERSION, "mllbench_version": __version__,
               "benchmark": local.benchmark, "benchmark_hash": local.benchmark_hash, "graph_hash": graph,
               "exported": _now(), "results": keep}
    from mllbench.registry.store import atomic_file

    with atomic_file(out) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as f:
            f.write(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    return len(keep), len(results) - len(keep)


def read_export(path: Path) -> dict:
    """An export file's JSON (gzip'd or plain); any damage is an error naming the file."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
            fh.seek(0)
            raw = _read_limited(gzip.GzipFile(fileobj=fh, mode="rb") if magic == b"\x1f\x8b" else fh)
        return json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise MllbenchError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MllbenchError(f"{path.name}: not a readable results export ({reason}); {REEXPORT}") from None


def _read_limited(stream: Any) -> bytes:
    """All of ``stream`` in 1 MiB reads, refusing more than ``MAX_BYTES`` (a gzip bomb)."""
    chunks, total = [], 0
    while chunk := stream.read(1 << 20):
        total += len(chunk)
        if total > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES >> 30} GiB once decompressed")
        chunks.append(chunk)
    return b"".join(chunks)


def check_export(data: Any, name: str, local: Local) -> tuple[list[dict], list[str]]:
    """The file's results if its header and every result fit the local benchmark; else an error.
    Also the warnings (a registry with no graph yet takes the file's graph hash on trust)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise MllbenchError(f"{name}: not an mllbench results export (no \"format\": {FORMAT!r}); {REEXPORT}")
    version = data.get("version")
    if not isinstance(version, int) or version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        raise MllbenchError(f"{name}: exchange version {version!r}, this mllbench reads {VERSION}"
                            + ("; upgrade mllbench" if newer else f"; {REEXPORT}"))
    if data.get("benchmark") != local.benchmark:
        raise MllbenchError(f"{name}: results of benchmark {data.get('benchmark')!r}, not {local.benchmark!r}; "
                            f"import it with -b {data.get('benchmark')}")
    if data.get("benchmark_hash") != local.benchmark_hash:
        raise MllbenchError(f"{name}: made on another definition of benchmark {local.benchmark!r} (hash "
                            f"{data.get('benchmark_hash')!r}, here {local.benchmark_hash!r}); use the same "
                            "definition (mllbench version) on both machines")
    graph, warnings = data.get("graph_hash"), []
    if not local.needs_graph and graph is not None:
        raise MllbenchError(f"{name}: has graph hash {graph!r} but benchmark {local.benchmark!r} is a table "
                            f"with no graph; {REEXPORT}")
    if local.needs_graph:
        if not isinstance(graph, str) or not graph:
            raise MllbenchError(f"{name}: no graph hash for benchmark {local.benchmark!r}; {REEXPORT}")
        if local.graph_hash is None:
            warnings.append(f"{name}: this registry has no semantic graph yet; the results were made on graph "
                            f"{graph}, which `mllbench label` must rebuild here for new runs to be comparable")
        elif graph != local.graph_hash:
            raise MllbenchError(f"{name}: made on semantic graph {graph}, this registry's is {local.graph_hash}; "
                                "both registries need the same graph (sample datasets and graph settings)")
    results = data.get("results")
    if not isinstance(results, list) or not results:
        raise MllbenchError(f"{name}: holds no results (\"results\" must be a non-empty list); {REEXPORT}")
    for i, r in enumerate(results):
        problem = result_problem(r, data)
        if problem:
            method = r.get("method") if isinstance(r, dict) else None
            raise MllbenchError(f"{name}: result {i + 1}" + (f" (method {method!r})" if method else "")
                                + f": {problem}; {REEXPORT} from an unmodified registry")
    return results, warnings


def result_problem(r: Any, header: dict) -> str | None:
    """What makes a result unfit for this registry and its leaderboard, or None."""
    if not isinstance(r, dict):
        return "not a JSON object"
    for key in ("benchmark", "benchmark_hash", "graph_hash"):
        if key not in r or r[key] != header.get(key):
            return f"{key} {r.get(key)!r} differs from the file's {header.get(key)!r}"
    from mllbench.pipeline.run import RESULT_SCHEMA

    schema = r.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or not 1 <= schema <= RESULT_SCHEMA:
        return f"result schema {schema!r}; this mllbench reads 1 to {RESULT_SCHEMA} (upgrade mllbench if newer)"
    method = r.get("method")
    if not isinstance(method, str) or not SAFE_NAME.fullmatch(method):
        return "method is not a plain name (letters, digits, and . _ + - after the first)"
    expected = {"params": dict, "hub": list, "tasks": dict, "created": str, "plugin_version": str}
    for key, kind in expected.items():
        if not isinstance(r.get(key), kind):
            return f"{key!r} missing or not a {kind.__name__}"
    if not all(isinstance(m, str) for m in r["hub"]):
        return "hub is not a list of model ids"
    if not _number(r.get("average")):
        return "'average' is not a number"
    if not r["tasks"]:
        return "no tasks"
    for task, entry in r["tasks"].items():
        if not isinstance(entry, dict) or not _number(entry.get("accuracy")):
            return f"task {task!r} has no numeric accuracy"
        outcome = [entry.get(k) for k in ("predictions", "labels") if k in entry]
        if outcome and (len(outcome) != 2 or not all(_integers(x) for x in outcome)
                        or len(outcome[0]) != len(outcome[1])):
            return f"task {task!r}: predictions and labels must be integer lists of one length"
        scores = entry.get("model_scores")
        if scores is not None and (not isinstance(scores, list) or len(scores) != len(r["hub"])
                                   or not all(_number(s) for s in scores)):
            return f"task {task!r}: model_scores must be one number per hub model"
    hops = r.get(PROVENANCE, [])
    if not isinstance(hops, list) or not all(isinstance(h, dict) for h in hops):
        return f"{PROVENANCE!r} is not a list of objects"
    return None


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and (isinstance(x, int) or not math.isinf(x))


def _integers(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in x)


def import_results(paths: Sequence[Path], local: Local, results_dir: Path) -> Imported:
    """Validate every file, then write each result not already present as
    ``results_dir/<method>/imported-<identity>.json`` (atomic), with its provenance."""
    from mllbench.report.leaderboard import load_results
    from mllbench.core.files import write_json
    from mllbench.registry.store import Store

    report, batches = Imported(), []
    for path in paths:
        results, warnings = check_export(read_export(path), path.name, local)
        batches.append((path.name, results))
        report.warnings += warnings
    known = {identity(r) for r in load_results(results_dir)} if results_dir.is_dir() else set()
    now, todo = _now(), []
    for name, results in batches:
        for r in results:
            key = identity(r)
            if key in known:
                report.duplicates += 1
                continue
            known.add(key)
            hops = [*r.get(PROVENANCE, []), {"file": name, "at": now}]
            todo.append((results_dir / r["method"] / f"imported-{key}.json", {**r, PROVENANCE: hops}))
    if todo:
        with Store.locked(results_dir):
            for path, result in todo:
                write_json(path, result)
                report.written.append(path)
    return report


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
