"""mllbench: select and reuse pre-trained vision-language models (Model Label Learning).

The package's folders are its floors, each importing only those below it (docs/architecture.md;
checked by ``lint-imports``): core, maths -> semantic -> registry -> contract -> plugins -> host
-> pipeline -> api, report -> cli. Plugins import ``mllbench.contract`` only."""
from mllbench import _compat
from mllbench.contract.hookspecs import hookimpl
from mllbench.core.version import __version__

__all__ = ["hookimpl", "__version__", "Hub", "Selection", "Predictions"]  # not `open`: `import *` would shadow it
_API = ("open", "Hub", "Selection", "Predictions")  # from mllbench/api.py on first use: `import mllbench` stays light

_compat.install()


def __getattr__(name: str):
    if name in _API:
        from mllbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'mllbench' has no attribute {name!r}")
