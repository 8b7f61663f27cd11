"""Built-in plugins; each is an entry point of group ``mllbench`` like any other."""
