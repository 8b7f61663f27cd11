"""Dataset sources for public benchmarks: CLIP_benchmark webdataset shards (``wds``, wds.py) and
torchvision caches (``torchvision``, torchvision_caches.py).

Both read the files themselves, so the core stays torch-free; downloads go through the sources'
own clients, lazily imported. Everything lives under one data root (``MLLBENCH_DATA_ROOT`` /
``mllbench --data-root``, default ``~/.cache/mllbench/data``). Offline (``--offline``,
``HF_HUB_OFFLINE=1`` for the hub) a missing dataset is a one-line error with the command that
fetches it.

Entry keys of every source: ``name``, ``source``, ``classnames`` (label order;
wins over the files' names), ``wnids`` (sample datasets, aligned with the
class names), ``domain``, ``task_type``, ``templates`` (prompts with ``{}``;
default ``["a photo of {}."]``), ``size_gb`` (approximate download size, shown
by ``run --dry-run``), ``licence``.
"""
from __future__ import annotations

from mllbench.contract import hookimpl
from mllbench.plugins.torchvision_caches import load_torchvision
from mllbench.plugins.wds import load_wds


@hookimpl
def register_dataset_sources(register):
    register("wds", load_wds)
    register("torchvision", load_torchvision)
