"""Declared options: a selector's parameters and the reuse settings, each checked in one place.

An :class:`Option` says what a parameter is (type, default, valid range or choices, help).
Everything that takes a value, whichever way it came in (a CLI flag, ``-p name=value``, the
Python API, an experiment's sweep), checks it with :meth:`Option.check`, so a bad value is one
:class:`~mllbench.core.types.MllbenchError` line in one wording, before any model runs:
``--alpha must be between 0 and 1; got 2``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any, Mapping, Sequence

import numpy as np

from mllbench.core.types import MllbenchError
from mllbench.maths.reuse import DEFAULT_LOGIT_SCALE, DEFAULT_WEIGHTING, WEIGHTINGS

TYPES = ("int", "float", "bool", "str", "choice")
HUB_SIZE = "the hub size"


def flag(name: str) -> str:
    """The CLI spelling of a parameter: ``nodes_per_class`` -> ``--nodes-per-class``."""
    return "--" + name.replace("_", "-")


def _show(value: Any) -> str:
    """A value as the user typed it: 7 for 7.0 and np.float64(7.0), 'abc' quoted."""
    try:
        return format(float(value), "g") if _is_number(value) else repr(value)
    except OverflowError:
        return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a (finite) number."""
    try:
        number = float(value) if _is_number(value) else math.nan
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Option:
    """One declared parameter of a selector (or a reuse setting).

    ``type`` is one of ``int`` (a whole number), ``float``, ``bool``, ``str`` or ``choice``
    (one of ``choices``). Numbers may have a ``min`` and ``max`` (inclusive unless
    ``min_open``/``max_open``); ``max_hub`` bounds a whole number by the hub size when it is
    known. ``record_default``: a CLI run that leaves the option out records its default in the
    result's params (and so in the result's identity); ModelGPT's options do not, as their
    results never did. ``off_flag``: the CLI's off switch of a ``bool`` (default ``--no-NAME``).
    """

    name: str
    type: str
    default: Any = None
    help: str = ""
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    max_hub: bool = False
    choices: tuple[str, ...] = ()
    record_default: bool = True
    off_flag: str | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise MllbenchError(f"option name {self.name!r} is not usable; use letters, digits and _")
        if self.type not in TYPES:
            raise MllbenchError(f"option {self.name!r} has type {self.type!r}; use one of {', '.join(TYPES)}")
        if (self.type == "choice") != bool(self.choices):
            raise MllbenchError(f"option {self.name!r}: choices go with type 'choice' (and it needs them)")
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.default is not None:
            self.check(self.default, label=f"the default of option {self.name!r}")

    @property
    def flag(self) -> str:
        """The CLI flag: ``--nodes-per-class``."""
        return flag(self.name)

    def wanted(self, hub_size: int | str | None = None) -> str:
        """What a valid value is, in words: ``a whole number >= 1``, ``one of a, b``."""
        if self.type == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.type == "bool":
            return "true or false"
        if self.type == "str":
            return "a text"
        return self._range(hub_size)[1]

    def _range(self, hub_size: int | str | None) -> tuple[str, str]:
        """A number's range in words: (for a value out of range, for a value that is no number)."""
        hi, note = self.max, ""
        if self.max_hub and hub_size is not None:
            hi, note = hub_size, "" if isinstance(hub_size, str) else f" ({HUB_SIZE})"
        shown = [None if b is None else (b if isinstance(b, str) else _show(b)) for b in (self.min, hi)]
        closed = not (self.min_open or self.max_open)
        if None not in shown and closed:
            span = f"between {shown[0]} and {shown[1]}{note}"
        else:
            span = " and ".join(f"{op} {b}" for op, b in zip((">" if self.min_open else ">=",
                                                              "<" if self.max_open else "<="), shown) if b is not None)
            span += note
        if self.type == "int":
            whole = f"a whole number {span}".rstrip()
            return whole, whole
        if None not in shown and closed:
            return span, f"a number {span}"
        return f"a number {span}".rstrip(), f"a finite number {span}".rstrip()

    def check(self, value: Any, hub_size: int | None = None, label: str | None = None) -> None:
        """Raise MllbenchError (one line, naming the range) unless ``value`` is valid.
        ``label`` is how the message names it (default: its flag, ``--alpha``)."""
        label = label or self.flag
        if self.type in ("int", "float"):
            self._check_number(value, hub_size, label)
        elif not {"bool": lambda v: isinstance(v, (bool, np.bool_)),
                  "str": lambda v: isinstance(v, str),
                  "choice": lambda v: v in self.choices}[self.type](value):
            raise MllbenchError(f"{label} must be {self.wanted()}; got {_show(value)}")

    def _check_number(self, value: Any, hub_size: int | None, label: str) -> None:
        in_range, typed = self._range(hub_size)
        number = _finite(value)
        if number is None or (self.type == "int" and not number.is_integer()):
            raise MllbenchError(f"{label} must be {typed}; got {_show(value)}")
        hi = hub_size if self.max_hub and hub_size is not None else self.max
        low = self.min is not None and (number <= self.min if self.min_open else number < self.min)
        high = hi is not None and (number >= hi if self.max_open else number > hi)
        if low or high:
            raise MllbenchError(f"{label} must be {in_range}; got {_show(value)}")

    def parse(self, text: str) -> Any:
        """A CLI flag's text as this option's value (text that does not parse stays text, so
        :meth:`check` names it): ``--alpha 2`` gives 2.0, as ``type=float`` always did."""
        if self.type == "bool":
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
                text.strip().lower(), text)
        if self.type not in ("int", "float"):
            return text
        for kind in ((int, float) if self.type == "int" else (float,)):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    def describe(self) -> dict:
        """The declaration as JSON (``mllbench plugins --json``): ``range`` says what is valid in words."""
        out = {"name": self.name, "type": self.type, "default": self.default, "help": self.help,
               "range": self.wanted(HUB_SIZE)}
        if self.type in ("int", "float"):
            out.update(min=self.min, max=HUB_SIZE if self.max_hub else self.max)
        if self.choices:
            out["choices"] = list(self.choices)
        return out


def check_options(options: Sequence[Option], params: Mapping[str, Any], hub_size: int | None = None) -> None:
    """:meth:`Option.check` for each of ``options`` given in ``params`` (None: not given)."""
    for option in options:
        if params.get(option.name) is not None:
            option.check(params[option.name], hub_size)


# --- the reuse settings (Eqs. 8-10): the same for every selector ---------------------------------

REUSE_OPTIONS = (
    Option("k", "int", 1, "Models reused per class (Eqs. 8-10).", min=1, max_hub=True),
    Option("logit_scale", "float", DEFAULT_LOGIT_SCALE, "Softmax scale in Eqs. 8-9 (1 = literal).", min=0,
           min_open=True),
    Option("weighting", "choice", DEFAULT_WEIGHTING, "Eq. 9 ensemble weights: inverse-entropy (1/H, the authors' "
           "code, which made the paper's numbers), entropy (H, Eq. 9 as printed), uniform.", choices=WEIGHTINGS),
)


@dataclass(frozen=True)
class ReuseSettings:
    """How reuse ensembles the selected models (Eqs. 8-10), whatever the selector: k models per
    class, the softmax's logit scale, Eq. 9's weighting. Values are kept as given (``-p k=3``
    records 3), so a result's params say exactly how it was made."""

    k: int = 1
    logit_scale: float = DEFAULT_LOGIT_SCALE
    weighting: str = DEFAULT_WEIGHTING

    @classmethod
    def take(cls, params: Mapping[str, Any], hub_size: int | None = None,
             **given: Any) -> tuple["ReuseSettings", dict]:
        """Split the reuse settings out of ``params`` (they win over ``given``: ``-p k=3`` over
        ``--k``), checked; returns them and the rest of ``params`` (the selector's)."""
        rest = dict(params)
        values = {o.name: rest.pop(o.name, given.get(o.name, o.default)) for o in REUSE_OPTIONS}
        check_options(REUSE_OPTIONS, values, hub_size)
        return cls(**values), rest

    def as_params(self) -> dict:
        """The settings as a result records them."""
        return {"k": self.k, "logit_scale": self.logit_scale, "weighting": self.weighting}


def check_value(name: str, value: Any, hub_size: int | None = None, label: str | None = None,
                options: Sequence[Option] = REUSE_OPTIONS) -> None:
    """Check one value against the option of that name among ``options`` (default: the reuse
    settings; a selector's are ``selector.options``); names not declared pass."""
    for option in options:
        if option.name == name:
            option.check(value, hub_size, label)


def check_params(params: Mapping[str, Any], hub_size: int | None = None,
                 options: Sequence[Option] = REUSE_OPTIONS) -> None:
    """:func:`check_value` for each declared name present in ``params`` (others, and None, pass)."""
    check_options(options, params, hub_size)
