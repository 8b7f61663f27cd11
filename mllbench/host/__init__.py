"""Floor 4: the host. Loads plugins through entry points (``plugins``: the plugin manager and
its registries) and resolves benchmark definitions into benchmarks (``benchmark``; score-table
benchmarks read through ``lovm``). Names map to factories here; nothing runs a model."""
from mllbench.host.benchmark import Benchmark, ImageBenchmark, TableBenchmark, load_benchmark
from mllbench.host.plugins import Host, PluginRecord, build_host, get_host

__all__ = ["Benchmark", "Host", "ImageBenchmark", "PluginRecord", "TableBenchmark", "build_host", "get_host",
           "load_benchmark"]
