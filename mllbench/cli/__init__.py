"""Floor 7: the command line (click + rich), a front end over the Python API and the report
floor. ``base`` holds the group, its State and shared helpers; ``flags`` the flags made from
selectors' declared options; the command modules (``hub``, ``runs``, ``board``,
``experiments``, ``user``, ``tools``) import only those two (``verify`` also
``user``'s task flags), and importing this package
registers their commands on the group. ``main`` is the entry point; plugins add commands
through the ``register_commands`` hook."""
from mllbench.cli import board, experiments, hub, runs, tools, user, verify  # noqa: F401 - their commands join the group
from mllbench.cli.base import State, cli
from mllbench.cli.main import main

__all__ = ["State", "cli", "main"]
