"""A user's task as text: class names typed or in a file, or a task file (JSON or YAML), checked
field by field into a ``TaskInfo`` with one-line errors that name the field to fix.

Why in the core: the Python API, the CLI and the task files of ``select``/``predict``/``verify``
all describe a task the same way, and describing one needs nothing above the types."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from mllbench.core.types import MllbenchError, TaskInfo, entry_info

USER_TASK = "user task"  # the name of a task given without one
TASK_KEYS = ("name", "classnames", "domain", "task_type", "templates")


def parse_classes(text: str) -> list[str]:
    """``"tabby cat, golden retriever"`` -> the class names (empty items dropped)."""
    return [c.strip() for c in text.split(",") if c.strip()]


def read_classes_file(path: str | Path) -> list[str]:
    """One class name a line; blank lines and ``#`` comments skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MllbenchError(f"cannot read classes file {path} ({exc.strerror}); pass a text file, one class a line") \
            from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def task_from_dict(data: Mapping[str, Any], name: str = USER_TASK, where: str = "the task") -> TaskInfo:
    """A TaskInfo from a task file's fields (``classes`` is taken for ``classnames``), checked:
    every error names the field to fix. Defaults are a benchmark entry's (``entry_info``)."""
    data = dict(data)
    if "classes" in data and "classnames" not in data:
        data["classnames"] = data.pop("classes")
    unknown = sorted(set(data) - set(TASK_KEYS))
    if unknown:
        raise MllbenchError(f"{where} has unknown field(s) {', '.join(unknown)}; the fields are {', '.join(TASK_KEYS)}")
    names = data.get("classnames")
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(c, str) and c.strip() for c in names):
        raise MllbenchError(f"{where} needs `classnames`: a non-empty list of class names")
    names = [c.strip() for c in names]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise MllbenchError(f"{where} lists class {repeated[0]!r} more than once; each class once")
    for key in ("name", "domain", "task_type"):
        if key in data and not (isinstance(data[key], str) and data[key].strip()):
            raise MllbenchError(f"{where}: `{key}` must be a non-empty text")
    templates = data.get("templates", ["a photo of {}."])
    if isinstance(templates, str) or not templates or not all(isinstance(t, str) and "{}" in t for t in templates):
        raise MllbenchError(f"{where}: `templates` must be a list of prompts, each with {{}} where the class "
                            "name goes, e.g. [\"a photo of {}.\"]")
    entry = {**{k: v for k, v in data.items() if k != "classnames"}, "templates": list(templates),
             "name": data.get("name", name)}
    return entry_info(entry, names)


def load_task_file(path: str | Path) -> TaskInfo:
    """A task from JSON, or YAML when PyYAML is installed: name, classnames, domain, task_type, templates."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MllbenchError(f"cannot read task file {path} ({exc.strerror})") from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise MllbenchError(f"task file {path} is YAML, which needs PyYAML: pip install pyyaml, "
                                "or write the task as JSON") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MllbenchError(f"task file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MllbenchError(f"task file {path} is not valid JSON ({exc}); use JSON, or .yaml with PyYAML") from exc
    if not isinstance(data, dict):
        raise MllbenchError(f"task file {path} must hold a mapping with `classnames` (and optionally name, domain, "
                            "task_type, templates)")
    return task_from_dict(data, path.stem, f"task file {path}")
