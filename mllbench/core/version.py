"""The version of mllbench: results and exports record it."""

__version__ = "0.1.0"
