"""The selector interface: what a selection method declares and how the harness calls it.

A selector subclasses :class:`Selector` (or has its attributes): a ``name``, its ``options``
(:class:`~mllbench.contract.options.Option`), ``select(ctx)``, and optionally ``prepare`` and
``scores_are_accuracy``. The host wraps whatever a plugin registers with :func:`as_selector`, so
the pipeline, the CLI (flags, ``-p``), the Python API and ``mllbench plugins`` all read one
declaration. A bare function registered the old way still works through an adapter.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from mllbench.contract.options import Option
from mllbench.core.types import MllbenchError, SelectionContext

# params any selector accepts: the harness reads them (``run_method``: the L1 override)
HARNESS_PARAMS = ("scores_are_accuracy",)


class Selector:
    """A selection method: scores every hub model for every class of a task.

    Subclass it, set ``name`` and ``options``, implement :meth:`select`; register an instance
    (``register(selector.name, selector)``). Override :meth:`scores_are_accuracy` when the
    scores predict accuracy (LOVM's L1 applies), :meth:`check` for checks that one option's
    range cannot say (it runs before any model). Set ``prepare`` to a method
    ``prepare(contexts)`` when the selector runs hub models: ``run`` calls it once with every
    task's context before selecting task by task, so it can do each model's work for all tasks
    while that model is loaded; ``ctx.memo`` keeps what does not depend on the target task.
    """

    name: str = ""
    options: tuple[Option, ...] = ()
    prepare: Callable[[list[SelectionContext]], None] | None = None
    # optional: a method ``explain(ctx, k=1, reference=()) -> dict`` saying why each class got its
    # models (``select --explain``, ``Selection.explain``); None: the selector offers no explanation
    explain: Callable[..., dict] | None = None
    # whether it reads the hub's accuracies on the sample datasets (``ctx.sample_accuracy``): only then
    # does a run predict every model on them, so ``run --dry-run`` counts their images in its cost
    reads_sample_accuracy: bool = False
    declared: ClassVar[bool] = True  # its options are all it takes (an old bare function's are unknown)

    def select(self, ctx: SelectionContext) -> np.ndarray:
        """Scores of shape (n_models, n_classes), higher meaning a better model for the class."""
        raise NotImplementedError(f"selector {self.name!r} does not implement select(ctx)")

    def scores_are_accuracy(self, params: Mapping[str, Any]) -> bool:
        """Whether the scores (with these params) predict accuracy, so L1 applies."""
        return False

    def __call__(self, ctx: SelectionContext) -> np.ndarray:
        """Selectors were functions: callers of ``selector(ctx)`` keep working."""
        return self.select(ctx)

    @property
    def defaults(self) -> dict[str, Any]:
        """Each option's default: leaderboard labels leave out parameters equal to them."""
        return {o.name: o.default for o in self.options}

    def option(self, name: str) -> Option | None:
        """The declared option of that name, if any."""
        return next((o for o in self.options if o.name == name), None)

    def check(self, params: Mapping[str, Any], hub_size: int | None = None) -> None:
        """Raise MllbenchError (one line) unless every parameter is a declared option in range."""
        if self.declared:
            unknown = sorted(set(params) - {o.name for o in self.options} - set(HARNESS_PARAMS))
            if unknown:
                raise MllbenchError(f"selector {self.name!r} has no option {unknown[0]!r}; "
                                    f"{describe_options(self)} (see `mllbench plugins`)")
        for option in self.options:
            if params.get(option.name) is not None:
                option.check(params[option.name], hub_size)

    def describe(self) -> list[dict]:
        """The options as JSON (``mllbench plugins --json``)."""
        return [o.describe() for o in self.options]


def describe_options(selector: Selector) -> str:
    """``its options: alpha, nodes_per_class`` (or ``it has none``), for messages."""
    names = [o.name for o in selector.options]
    return f"its options: {', '.join(names)}" if names else "it has no options"


class FunctionSelector(Selector):
    """A bare function registered the old way (contract version 1), with its ad-hoc attributes
    ``defaults``, ``prepare``, ``check_params`` and ``scores_are_accuracy``. It declares no
    options, so any ``-p`` parameter passes to it; other attributes read through."""

    declared = False

    def __init__(self, name: str, function: Callable[[SelectionContext], np.ndarray]):
        self.name, self.function = name, function
        self.prepare = getattr(function, "prepare", None)

    def select(self, ctx: SelectionContext) -> np.ndarray:
        return self.function(ctx)

    def scores_are_accuracy(self, params: Mapping[str, Any]) -> bool:
        declared = getattr(self.function, "scores_are_accuracy", None)
        return bool(declared(params)) if declared else False

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(getattr(self.function, "defaults", {}))

    def check(self, params: Mapping[str, Any], hub_size: int | None = None) -> None:
        declared = getattr(self.function, "check_params", None)
        if declared:
            declared(params)

    def __getattr__(self, name: str) -> Any:
        if name == "function":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.function, name)


def as_selector(obj: Any, name: str | None = None) -> Selector:
    """The :class:`Selector` for what a plugin registered: a Selector as it is (named ``name``
    when it has no name), a bare function wrapped (with a DeprecationWarning: bare functions go
    in contract version 2). A Selector registered under another name than its own is an error."""
    if isinstance(obj, Selector):
        if name and not obj.name:
            obj.name = name
        elif name and obj.name != name:
            raise MllbenchError(f"selector {obj.name!r} is registered as {name!r}; register it under its name")
        return obj
    if not callable(obj):
        raise MllbenchError(f"selector {name!r} is a {type(obj).__name__}; register a mllbench.contract.Selector")
    warnings.warn(f"selector {name!r} is a bare function; subclass mllbench.contract.Selector and declare its "
                  "options (bare functions are removed in contract version 2)", DeprecationWarning, stacklevel=3)
    return FunctionSelector(name or getattr(obj, "__name__", "?"), obj)

