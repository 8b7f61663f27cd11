"""What a hub model costs to run, from its definition's metadata, and a hub restricted by cost.

GFLOPs per image of the image tower (the cost of reusing a model on an image; the text tower
runs once per class): ``gflops`` as measured for the embedded hub
(``benchmarks/embedded/make_definition.py``), else ``flops_b`` (billions of FLOPs, as the
mll-paper definition has them). Parameters: ``params_m``, millions, the whole model.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from mllbench.core.types import MllbenchError


def model_metadata(models: Sequence[Mapping], *keys: str) -> dict[str, float]:
    """Each model's first numeric value among ``keys`` of its metadata; models with none left out."""
    out = {}
    for m in models:
        meta = m.get("metadata") or {}
        value = next((meta[k] for k in keys if isinstance(meta.get(k), (int, float))), None)
        if value is not None:
            out[m["id"]] = float(value)
    return out


def model_gflops(models: Sequence[Mapping]) -> dict[str, float]:
    """GFLOPs per image of each hub model that declares it (metadata ``gflops``, else ``flops_b``)."""
    return model_metadata(models, "gflops", "flops_b")


def model_params(models: Sequence[Mapping]) -> dict[str, float]:
    """Millions of parameters of each hub model that declares it (metadata ``params_m``)."""
    return model_metadata(models, "params_m")


def images_gflops(used: Sequence[Sequence[str]], gflops: Mapping[str, float]) -> float | None:
    """The mean over tasks of the GFLOPs an image passes through, given each task's reused models
    (the union over its classes: each runs once per image); None when a model's cost is unknown."""
    if not used or any(m not in gflops for models in used for m in models):
        return None
    return sum(sum(gflops[m] for m in models) for models in used) / len(used)


def within_budget(models: Sequence[Mapping], max_gflops: float | None = None,
                  max_params: float | None = None) -> tuple[list[int], str | None]:
    """(the hub indices whose cost is within the limits, a sentence on the models left out or None).

    A model whose cost a limit needs but its definition lacks is left out (and counted so);
    nothing left is a one-line error naming the cheapest model.
    """
    limits = [(name, limit, table(models), unit) for name, limit, table, unit in (
        ("--max-gflops", max_gflops, model_gflops, "GFLOPs/img"), ("--max-params", max_params, model_params,
                                                                   "M parameters")) if limit is not None]
    if not limits:
        return list(range(len(models))), None
    kept, unknown = [], 0
    for i, m in enumerate(models):
        costs = [values.get(m["id"]) for _, _, values, _ in limits]
        unknown += any(c is None for c in costs)
        if all(c is not None and c <= limit for c, (_, limit, _, _) in zip(costs, limits)):
            kept.append(i)
    asked = " and ".join(f"{name} {limit:g}" for name, limit, _, _ in limits)
    if not kept:
        cheapest = ", ".join(f"{min(values.values()):g} {unit}" if values else f"no model declares {unit}"
                             for _, _, values, unit in limits)
        raise MllbenchError(f"no hub model is within {asked} (the cheapest: {cheapest}); raise the limit")
    left = len(models) - len(kept)
    if not left:
        return kept, None
    return kept, (f"{left} of {len(models)} hub models left out by {asked}"
                  + (f" ({unknown} of them for an unknown cost)" if unknown else ""))
