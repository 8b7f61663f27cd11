"""Fail on any import cycle between mllbench's modules, counting imports inside functions.

``lint-imports`` checks the floors' direction; this checks what it does not: a module that
imports another inside a function (to defer a cost) still depends on it, so such imports
count here too. Imports under ``if TYPE_CHECKING:`` do not (they never run). Reads the
installed package's source (the folders plugins/ and registry/ are installed as
mllbench.plugins and mllbench.registry), runs nothing of it.

    python .ci/import_cycles.py        # exit 1 and the cycles, or exit 0
"""
from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path


# installed from the top-level folders plugins/, registry/, benchmarks/ (pyproject's package-dir);
# named here because an editable install serves them through a finder, not from mllbench/'s folder
MAPPED = ("mllbench.plugins", "mllbench.registry", "mllbench.benchmarks")


def modules(package: str = "mllbench") -> dict[str, Path]:
    """Every module of the installed package: dotted name -> source file."""
    found, todo = {}, [package, *MAPPED]
    while todo:
        name = todo.pop()
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        found[name] = Path(spec.origin)
        for folder in spec.submodule_search_locations or ():
            for child in sorted(Path(folder).iterdir()):
                if child.suffix == ".py" and child.stem != "__init__":
                    found[f"{name}.{child.stem}"] = child
                elif (child / "__init__.py").is_file():
                    todo.append(f"{name}.{child.name}")
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports anywhere in its source, TYPE_CHECKING blocks aside."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in out if m in known and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def main() -> int:
    found = modules()
    graph = {name: imports(name, path, set(found)) for name, path in found.items()}
    bad = cycles(graph)
    for part in bad:
        print("import cycle: " + " <-> ".join(part))
    print(f"{len(found)} modules, {sum(map(len, graph.values()))} imports, {len(bad)} cycles")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
