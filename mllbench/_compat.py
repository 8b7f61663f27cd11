"""Old import paths of mllbench 0.1 (``mllbench.types``, ``mllbench.pipeline.Session`` ...), kept
working for plugins and scripts written against them, with a DeprecationWarning naming the new one.

Why a finder and not a file per old module: the package's folders show its layers
(docs/architecture.md); thirty one-line shims beside them would hide that. Each old name is
an alias of the new module object (``sys.modules``), so ``isinstance`` and monkeypatching see
one module. Removed in contract version 2 (docs/plugins.md, "Versions").
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# old module -> its home since the layered packages (0.2)
MOVED = {
    "mllbench.types": "mllbench.core.types", "mllbench.downloads": "mllbench.core.downloads",
    "mllbench.textbatch": "mllbench.maths.textbatch", "mllbench.mll": "mllbench.maths.mll",
    "mllbench.reuse": "mllbench.maths.reuse", "mllbench.ranking": "mllbench.maths.ranking",
    "mllbench.stats": "mllbench.maths.stats", "mllbench.wordnet": "mllbench.semantic.wordnet",
    "mllbench.graph": "mllbench.semantic.graph", "mllbench.hookspecs": "mllbench.contract.hookspecs",
    "mllbench.params": "mllbench.contract.options", "mllbench.benchmark": "mllbench.host.benchmark",
    "mllbench.lovm": "mllbench.host.lovm", "mllbench.evaluate": "mllbench.pipeline.evaluate",
    "mllbench.labeling": "mllbench.pipeline.labeling", "mllbench.executors": "mllbench.pipeline.executors",
    "mllbench.dryrun": "mllbench.pipeline.dryrun", "mllbench.imageset": "mllbench.pipeline.imageset",
    "mllbench.leaderboard": "mllbench.report.leaderboard", "mllbench.plots": "mllbench.report.plots",
    "mllbench.exchange": "mllbench.report.exchange", "mllbench.experiments": "mllbench.report.experiments",
    "mllbench.reference": "mllbench.report.reference", "mllbench.cli_user": "mllbench.cli.user",
    "mllbench.cli_tools": "mllbench.cli.tools", "mllbench.scaffold": "mllbench.cli.scaffold",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old name and loads it as the new module."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} is now {new} (plugins: import from mllbench.contract)",
                      DeprecationWarning, stacklevel=4)
        return importlib.import_module(new)

    def exec_module(self, module):
        """The new module is already executed; aliasing it runs nothing twice."""


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
