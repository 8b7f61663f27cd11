"""The flags of selectors' options and of the reuse settings, made from their declarations.

A selector declares its options (``mllbench.contract.Option``); the commands that select
(``run``, ``select``, ``predict``, MLL's experiments) get a flag for each, made when the command
parses, so an installed plugin's options are flags without any change here. A flag only records
that it was given (``ctx.meta``); :func:`selection` turns what was given into the chosen
selector's params and checks them where ``run_method`` and the Python API do
(``pipeline.run.check_selection``), so ``--alpha 2`` and ``-p alpha=2`` fail alike.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import click

from mllbench.cli.base import State, key_values, with_options
from mllbench.contract.options import REUSE_OPTIONS, Option, ReuseSettings
from mllbench.contract.selector import Selector, describe_options
from mllbench.core.types import MllbenchError

GIVEN = "mllbench.given"  # ctx.meta key: {option name: the flag's value}, for the flags given only
METAVARS = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT"}


def _remember(name: str) -> Callable:
    def store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if ctx.get_parameter_source(param.name) is click.core.ParameterSource.COMMANDLINE:
            ctx.meta.setdefault(GIVEN, {})[name] = value
    return store


def flag_spec(option: Option, owners: Sequence[str] = (), storage: str = "option_") -> tuple[list[str], dict]:
    """A click option's declarations and settings for a declared option: its value goes to
    ``ctx.meta`` only when given on the command line (its default shows in --help, and the
    chosen selector's own default applies). A selector's option is stored under a prefixed
    name, clear of the command's own parameters."""
    settings = {"default": option.default, "show_default": option.default is not None, "expose_value": False,
                "callback": _remember(option.name),
                "help": f"{', '.join(owners)}: {option.help}" if owners else option.help}
    if option.type == "bool":
        return [f"{option.flag}/{option.off_flag or '--no-' + option.flag[2:]}", storage + option.name], settings
    settings["type"] = click.STRING  # parsed and checked by the chosen selector's declaration, one wording
    settings["metavar"] = METAVARS.get(option.type) or f"[{'|'.join(option.choices)}]"
    return [option.flag, storage + option.name], settings


def reuse_flags(names: Iterable[str] = ("k", "logit_scale", "weighting")) -> Callable[[Callable], Callable]:
    """The reuse settings' flags (``--k``, ``--logit-scale``, ``--weighting``)."""
    specs = [flag_spec(o, storage="") for o in REUSE_OPTIONS if o.name in names]
    return with_options([click.option(*decls, **settings) for decls, settings in specs])


def selectors_of(methods: Sequence[str] | None = None) -> dict[str, Selector]:
    """The registered selectors (or those of ``methods`` that are registered), by name."""
    from mllbench.host.plugins import get_host

    host = get_host()
    return {name: host.selector(name) for name in sorted(host.registries["selector"])
            if methods is None or name in methods}


def option_flags(selectors: Mapping[str, Selector], skip: Sequence[str] = ()) -> list[click.Option]:
    """One flag per option name among the selectors' (a name several declare shares one flag,
    checked against the chosen selector's declaration); a bool flag only when all say bool."""
    declared: dict[str, list[tuple[str, Option]]] = {}
    for name, selector in selectors.items():
        for option in selector.options:
            if option.name not in skip:
                declared.setdefault(option.name, []).append((name, option))
    flags = []
    for owners in declared.values():
        option = owners[0][1]
        if option.type == "bool" and any(o.type != "bool" for _, o in owners):
            option = Option(option.name, "str", help=option.help)  # true/false text, parsed per selector
        decls, settings = flag_spec(option, [name for name, _ in owners])
        flags.append(click.Option(decls, **settings))
    return flags


class SelectorCommand(click.Command):
    """A command with a flag per declared option of the registered selectors (``methods``:
    only theirs; ``skip``: not these names). Flags whose spelling the command already has are
    left out (the option is still ``-p NAME=VALUE``)."""

    def __init__(self, *args: Any, methods: Sequence[str] | None = None, skip: Sequence[str] = (),
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.methods, self.skip = methods, tuple(skip)
        self._made: tuple[object, list[click.Option]] | None = None

    def _flags(self, taken: set[str]) -> list[click.Option]:
        from mllbench.host.plugins import get_host

        host = get_host()
        if self._made is None or self._made[0] is not host:  # once per host, not per call
            flags = option_flags(selectors_of(self.methods), self.skip)
            self._made = (host, [f for f in flags if not taken & {*f.opts, *f.secondary_opts}])
        return self._made[1]

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        own, help_option = list(self.params), self.get_help_option(ctx)
        taken = {o for p in [*own, help_option] if p for o in (*p.opts, *getattr(p, "secondary_opts", ()))}
        return [*own, *self._flags(taken), *([help_option] if help_option else [])]


def given_flags() -> dict[str, Any]:
    """The option flags given on this command line, by option name."""
    return dict(click.get_current_context().meta.get(GIVEN, {}))


def chosen_params(selector: Selector, given: Mapping[str, Any], extra: Mapping[str, Any],
                  fill: Callable[[Option], bool] = lambda o: o.record_default) -> dict:
    """A selector's params: the defaults of its options that ``fill`` (for ``run``: those it
    records by default), the flags given, then ``-p`` (which wins). A flag of an option it does
    not declare is an error naming the selectors that do."""
    params = {o.name: o.default for o in selector.options if fill(o)}
    for name, value in given.items():
        option = selector.option(name)
        if option is None:
            owners = ", ".join(n for n, s in selectors_of().items() if s.option(name)) or "no selector"
            raise MllbenchError(f"{Option(name, 'str').flag} is an option of {owners}, not of {selector.name} "
                                f"({describe_options(selector)}); choose --method, or leave it out")
        params[name] = option.parse(value) if isinstance(value, str) else value
    return {**params, **extra}


def selection(state: State, method: str, extra: Mapping[str, Any],
              fill: Callable[[Option], bool] = lambda o: o.record_default) -> tuple[ReuseSettings, dict]:
    """The reuse settings and the chosen selector's params (:func:`chosen_params`) from the
    flags given and ``-p``, checked (``pipeline.run.check_selection``) before anything runs."""
    from mllbench.pipeline.run import check_selection

    given = given_flags()
    reuse = {o.name: o.parse(given.pop(o.name)) for o in REUSE_OPTIONS if o.name in given}
    selector = state.host.selector(method)
    params = chosen_params(selector, given, extra, fill)
    _, settings, params = check_selection(state.bench, method, params, **reuse)
    return settings, params


def label_defaults(state: State, methods: set[str]) -> dict[str, dict]:
    """Per method, the parameter values a leaderboard row label leaves out: the reuse settings'
    defaults, the session's captioner/embedder (with the benchmark's defaults), and the
    selector's declared defaults."""
    from dataclasses import fields

    from mllbench.pipeline.session import Session

    base: dict[str, Any] = {o.name: o.default for o in REUSE_OPTIONS}
    base.update({f.name: f.default for f in fields(Session) if f.name in ("captioner", "embedder")})
    base.update(state.bench.defaults)
    host = state.host
    return {m: {**base, **(host.selector(m).defaults if m in host.registries["selector"] else {})} for m in methods}


PARAM_OPTION = click.option("--param", "-p", "extra", multiple=True,
                            callback=lambda ctx, param, value: key_values(value),
                            help="Selector parameter KEY=VALUE (repeatable), e.g. -p target=raw for ModelGPT's "
                                 "accuracy fit; a selector's options are also flags (see `mllbench plugins`).")
METHOD_OPTION = click.option("--method", "-m", default="mll", show_default=True,
                             help="Selector (see `mllbench plugins`).")
selection_options = with_options([METHOD_OPTION, reuse_flags(), PARAM_OPTION])
