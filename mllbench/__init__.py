"""mllbench: select and reuse pre-trained vision-language models (Model Label Learning)."""
from mllbench.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__", "Hub", "Selection", "Predictions"]  # not `open`: `import *` would shadow it
_API = ("open", "Hub", "Selection", "Predictions")  # from mllbench/api.py on first use: `import mllbench` stays light


def __getattr__(name: str):
    if name in _API:
        from mllbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'mllbench' has no attribute {name!r}")
