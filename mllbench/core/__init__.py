"""Floor 0: the types every layer shares (errors, task and model descriptions, protocols) and
file primitives (atomic writes, the cache root, pinned downloads). Imports nothing of mllbench."""
