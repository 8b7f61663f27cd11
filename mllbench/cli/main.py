"""The ``mllbench`` entry point: the group (``cli/base.py``) with every command registered
(importing ``mllbench.cli`` imports the command modules), run so that a user's mistake is one
line, never a traceback."""
from __future__ import annotations

import os
import sys
import traceback

import click

from mllbench.cli.base import State, cli
from mllbench.core.types import MllbenchError

__all__ = ["State", "cli", "main"]


def main() -> None:
    """Entry point: user errors become one line, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except MllbenchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except Exception as exc:  # a plugin's bug: one line, traceback on request
        if os.environ.get("MLLBENCH_DEBUG"):
            traceback.print_exc()
        click.echo(f"Error: {type(exc).__name__}: {exc} (set MLLBENCH_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
