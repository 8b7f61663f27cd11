"""mllbench: select and reuse pre-trained vision-language models (Model Label Learning)."""
from mllbench.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
