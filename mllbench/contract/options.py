"""Range checks of the selection and reuse parameters, in one place.

The CLI, ``pipeline.run_method`` / ``Session.reuse``, the experiments and the
MLL selector all call these, so a bad value is a one-line
:class:`~mllbench.core.types.MllbenchError` naming the valid range whichever way
it came in (``--k``, ``-p alpha=...``, the Python API), before any model runs.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any, Mapping

from mllbench.core.types import MllbenchError

# the names checked, with their ranges
RANGES = {
    "k": "between 1 and the hub size",
    "alpha": "between 0 and 1",
    "nodes_per_class": "a whole number >= 1",
    "logit_scale": "a number > 0",
}


def flag(name: str) -> str:
    """The CLI spelling of a parameter: ``nodes_per_class`` -> ``--nodes-per-class``."""
    return "--" + name.replace("_", "-")


def _show(value: Any) -> str:
    """A value as the user typed it: 7 for 7.0 and np.float64(7.0), 'abc' quoted."""
    try:
        return format(float(value), "g") if isinstance(value, Real) and not isinstance(value, bool) else repr(value)
    except OverflowError:
        return repr(value)


def _number(label: str, value: Any, whole: bool, wanted: str) -> float:
    """``value`` as a float, or MllbenchError: not a (finite, if ``whole`` whole) number."""
    try:
        number = float(value) if isinstance(value, Real) and not isinstance(value, bool) else math.nan
    except OverflowError:
        number = math.nan
    if not math.isfinite(number) or (whole and not number.is_integer()):
        raise MllbenchError(f"{label} must be {wanted}; got {_show(value)}")
    return number


def check_value(name: str, value: Any, hub_size: int | None = None, label: str | None = None) -> None:
    """Raise MllbenchError unless ``value`` is in ``name``'s range.

    - ``k``: a whole number in 1..``hub_size`` (>= 1 when the hub size is not given);
    - ``alpha``: a number in [0, 1];
    - ``nodes_per_class``: a whole number >= 1;
    - ``logit_scale``: a finite number > 0.
    Names not listed pass. ``label`` is how the message names it (default ``--name``).
    """
    label = label or flag(name)
    if name == "k":
        wanted = (f"a whole number between 1 and {hub_size} (the hub size)" if hub_size is not None
                  else "a whole number >= 1")
        k = _number(label, value, True, wanted)
        if k < 1 or (hub_size is not None and k > hub_size):
            raise MllbenchError(f"{label} must be {wanted}; got {_show(value)}")
    elif name == "alpha":
        if not 0 <= _number(label, value, False, "a number between 0 and 1") <= 1:
            raise MllbenchError(f"{label} must be between 0 and 1; got {_show(value)}")
    elif name == "nodes_per_class":
        if _number(label, value, True, "a whole number >= 1") < 1:
            raise MllbenchError(f"{label} must be a whole number >= 1; got {_show(value)}")
    elif name == "logit_scale":
        if not _number(label, value, False, "a finite number > 0") > 0:
            raise MllbenchError(f"{label} must be a number > 0; got {_show(value)}")


def check_params(params: Mapping[str, Any], hub_size: int | None = None) -> None:
    """:func:`check_value` for each checked name present in ``params`` (others pass)."""
    for name in RANGES:
        if name in params and params[name] is not None:
            check_value(name, params[name], hub_size)
