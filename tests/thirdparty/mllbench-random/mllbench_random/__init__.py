"""Example third-party selector plugin: what `pip install mllbench-<name>` adds."""
import zlib

import numpy as np

from mllbench import hookimpl


def random_select(ctx):
    """Seeded random scores per (model, class); seed from params and task name."""
    seed = int(ctx.params.get("seed", 0)) + zlib.crc32(ctx.task.name.encode())
    return np.random.default_rng(seed).random((len(ctx.models), len(ctx.task.classnames)))


@hookimpl
def register_selectors(register):
    register("random", random_select)
