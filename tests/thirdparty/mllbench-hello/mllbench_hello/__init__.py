"""A third-party plugin written against contract version 1's typed interface: it adds a command
to the ``mllbench`` CLI (hook ``register_commands``) and a selector that declares its options
(``mllbench.contract.Selector`` and ``Option``), which become flags of ``run``."""
import click
import numpy as np

from mllbench.contract import CONTRACT_VERSION, Option, SelectionContext, Selector, hookimpl


class Rank(Selector):
    """Every class gets the hub's model at position ``rank`` (``reverse``: counted from the end)."""

    name = "rank"
    options = (
        Option("rank", "int", 1, "Hub position (1 = first) of the model every class gets.", min=1, max_hub=True),
        Option("reverse", "bool", False, "Count positions from the hub's end."),
    )

    def select(self, ctx: SelectionContext) -> np.ndarray:
        params = {**self.defaults, **ctx.params}
        n = len(ctx.models)
        chosen = n - int(params["rank"]) if params["reverse"] else int(params["rank"]) - 1
        scores = np.zeros((n, len(ctx.task.classnames)))
        scores[chosen] = 1.0
        return scores


@hookimpl
def register_selectors(register):
    register(Rank.name, Rank())


@hookimpl
def register_commands(cli):
    @cli.command()
    @click.argument("name", default="world")
    def hello(name):
        """Say hello (a command of the mllbench-hello plugin)."""
        click.echo(f"Hello, {name}! (mllbench plugin contract {CONTRACT_VERSION})")
