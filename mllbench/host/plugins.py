"""The plugin host: loads entry points of group ``mllbench`` and keeps registries.

Built-in plugins are entry points of this distribution, so they load exactly
like third-party ones. Each plugin is imported and asked to register on its
own, so a broken plugin is reported (``mllbench plugins``) and skipped, never
fatal, unless ``MLLBENCH_STRICT_PLUGINS=1``. Selectors are kept as
``mllbench.contract.Selector`` s (``as_selector`` wraps an old bare function).

Environment switches:
- ``MLLBENCH_PLUGINS=a,b``: load only these entry points (tests use this to
  keep unrelated installed plugins out);
- ``MLLBENCH_BLOCK_PLUGINS=a,b``: never load these.
"""
from __future__ import annotations

import importlib.metadata as md
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import pluggy

from mllbench.contract import hookspecs
from mllbench.contract.selector import Selector, as_selector
from mllbench.core.types import MllbenchError

GROUP = "mllbench"
KINDS = {
    "register_model_providers": "model provider",
    "register_dataset_sources": "dataset source",
    "register_captioners": "captioner",
    "register_embedders": "embedder",
    "register_selectors": "selector",
    "register_benchmarks": "benchmark",
}
COMMANDS = "register_commands"  # called by the CLI with its group (``call_each``), not at load


@dataclass
class PluginRecord:
    """One loaded (or failed) plugin, as ``mllbench plugins`` shows it."""

    name: str
    module: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Host:
    """The loaded plugins and what they registered, one registry per kind (``KINDS``)."""

    pm: pluggy.PluginManager
    plugins: list[PluginRecord]
    registries: dict[str, dict[str, Any]]
    origins: dict[tuple[str, str], str]

    def get(self, kind: str, name: str) -> Any:
        """Look a name up in one registry, with a one-line error naming the choices."""
        registry = self.registries[kind]
        if name not in registry:
            known = ", ".join(sorted(registry)) or "none"
            raise MllbenchError(f"unknown {kind} {name!r}; known: {known} (see `mllbench plugins`)")
        return registry[name]

    def selector(self, name: str) -> Selector:
        """The selector registered as ``name``, through the selector interface (``as_selector``)."""
        return as_selector(self.get("selector", name), name)

    def call_each(self, hook_name: str, arguments: Callable[[PluginRecord], dict[str, Any]]) -> list[PluginRecord]:
        """Call one hook on every plugin implementing it, each on its own with ``arguments(its
        record)``; returns the records of those that succeeded. A plugin that fails is recorded
        (``mllbench plugins`` shows it) and skipped, unless MLLBENCH_STRICT_PLUGINS=1."""
        by_name, done = {r.name: r for r in self.plugins}, []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            record = by_name[impl.plugin_name]
            try:
                impl.function(**arguments(record))
                done.append(record)
            except Exception as exc:
                if _strict():
                    raise
                record.error = f"{hook_name} failed: {type(exc).__name__}: {exc}"
        return done


def _strict() -> bool:
    return os.environ.get("MLLBENCH_STRICT_PLUGINS") == "1"


def _split_env(var: str) -> set[str] | None:
    value = os.environ.get(var, "").strip()
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def _entry_points() -> list[md.EntryPoint]:
    return sorted(md.entry_points(group=GROUP), key=lambda ep: ep.name)


def build_host(entry_points: list[md.EntryPoint] | None = None) -> Host:
    """Load plugins and fill the registries (uncached; tests call this)."""
    only, blocked = _split_env("MLLBENCH_PLUGINS"), _split_env("MLLBENCH_BLOCK_PLUGINS") or set()
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    records: list[PluginRecord] = []
    seen: dict[str, str] = {}
    for ep in _entry_points() if entry_points is None else entry_points:
        if (only is not None and ep.name not in only) or ep.name in blocked:
            continue
        dist = getattr(ep, "dist", None)
        record = PluginRecord(ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "?")
        records.append(record)
        if ep.name in seen:
            record.error = f"duplicate entry-point name {ep.name!r} (also in {seen[ep.name]}); skipped"
            continue
        seen[ep.name] = record.distribution
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not break the host
            if _strict():
                raise
            record.error = f"{type(exc).__name__}: {exc}"
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise MllbenchError(f"a plugin implements an unknown hook: {exc}") from exc
    registries: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS.values()}
    origins: dict[tuple[str, str], str] = {}
    host = Host(pm, records, registries, origins)
    by_name = {r.name: r for r in records}
    for hook_name in (*KINDS, COMMANDS):
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            by_name[impl.plugin_name].hooks.append(hook_name)
    for hook_name, kind in KINDS.items():
        host.call_each(hook_name, lambda record, kind=kind: {"register": _registrar(kind, record, registries, origins)})
    return host


def _registrar(kind: str, record: PluginRecord, registries: dict, origins: dict) -> Callable:
    def register(name: str, factory: Any) -> None:
        owner = origins.get((kind, name))
        if owner is not None and owner != record.name:
            raise MllbenchError(f"{kind} {name!r} is already registered by plugin {owner!r}")
        registries[kind][name] = as_selector(factory, name) if kind == "selector" else factory
        origins[(kind, name)] = record.name
        record.registered.setdefault(kind, []).append(name)

    return register


@lru_cache(maxsize=1)
def get_host() -> Host:
    """The process-wide host, loaded lazily on first use (not at import)."""
    return build_host()
