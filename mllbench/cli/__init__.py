"""Floor 7: the command line (click + rich), a front end over the Python API and the report
floor. ``main`` holds the group and the benchmark commands; ``user`` the practitioner's
``select``/``predict``; ``tools`` results exchange and ``new-plugin``. Importing this package
registers every command on the group."""
from mllbench.cli import tools, user  # noqa: F401 - their commands join the group
from mllbench.cli.main import State, cli, main

__all__ = ["State", "cli", "main"]
