"""Raises on import, like a plugin built against a missing dependency."""
raise ImportError("mllbench_broken needs a package that is not installed")
