"""What every command module shares: the ``mllbench`` group, its lazily built State, and small
helpers (tables, ``KEY=VALUE`` parsing, option decorators). Command modules import this one
and nothing of each other's, so the package has no import cycle; ``mllbench/cli/__init__.py``
imports them all to register their commands."""
from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import click

from mllbench.api import DEFAULT_BENCHMARK, apply_environment
from mllbench.core.types import MllbenchError

if TYPE_CHECKING:
    from mllbench.host.plugins import Host

TABLE_FORMATS = click.Choice(["rich", "markdown", "csv", "latex"])


class State:
    """Lazily built host, benchmark and session (nothing loads for --help)."""

    def __init__(self, benchmark: str, registry: str | None, quiet: bool, options: dict):
        self.benchmark_name, self.registry, self.quiet, self.options = benchmark, registry, quiet, options
        self.per_model: dict[str, dict] = {}  # --batch-size MODEL=N, --model-option MODEL:KEY=VALUE
        self._session = None

    @property
    def host(self) -> "Host":
        from mllbench.host.plugins import get_host

        return get_host()

    @property
    def bench(self):
        return self.session.bench

    @property
    def session(self):
        if self._session is None:
            from mllbench.api import make_session  # the Python API builds its Session the same way

            self._session = make_session(self.benchmark_name, self.registry, self.options)
            for model_id, settings in self.per_model.items():
                self._session.bench.model_entry(model_id)  # an unknown model: one line naming the fix
                self._session.models.overrides[model_id] = settings
        return self._session

    @contextmanager
    def progress(self) -> Iterator[None]:
        """One rich progress display for the command (``progress.rich_reporter``)."""
        if self.quiet:
            yield
            return
        from mllbench.cli.progress import rich_reporter

        with rich_reporter(console(err=True)) as reporter:
            self.session.report = reporter
            yield

    def use_executor(self, executor: str, **options) -> None:
        """Run models with the named executor (``pipeline/executors.py``); ``ray_x`` options are Ray's ``x``,
        ``LOCAL_OPTIONS`` the local executor's (refused with another, rather than left unused)."""
        from mllbench.pipeline.executors import make_executor

        if executor != "local" and any(options.get(k) is not None for k in LOCAL_OPTIONS):
            raise MllbenchError(f"{' and '.join(LOCAL_OPTIONS.values())} are the local executor's; drop them "
                                f"with --executor {executor}")
        self.session.executor = make_executor(executor, **{k.removeprefix("ray_"): v for k, v in options.items()})


def console(err: bool = False):
    """A rich console; piped output gets a wide page so tables are not folded."""
    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    return Console(stderr=err, width=None if stream.isatty() else 200)


class PluginGroup(click.Group):
    """The ``mllbench`` group: its own commands, then those plugins add (hook
    ``register_commands``). Plugins are asked only when the commands are listed (``--help``) or
    a name is not built in, so ``mllbench run`` loads no more than it did, and a plugin's
    command never replaces a built-in one."""

    _plugins: tuple[object, dict[str, click.Command]] | None = None

    def plugin_commands(self) -> dict[str, click.Command]:
        """The commands the current host's plugins add (made once per host)."""
        from mllbench.host.plugins import get_host

        host = get_host()
        if self._plugins is None or self._plugins[0] is not host:
            self._plugins = (host, plugin_commands(host, set(self.commands)))
        return self._plugins[1]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.commands.get(name) or self.plugin_commands().get(name)


def plugin_commands(host: "Host", builtin: set[str]) -> dict[str, click.Command]:
    """Each plugin adds its commands to a group of its own; a name already taken is reported
    on the plugin (``mllbench plugins``) and skipped, as is a plugin whose hook failed."""
    from mllbench.host.plugins import COMMANDS

    groups: dict[str, click.Group] = {}

    def arguments(record) -> dict:
        groups[record.name] = click.Group(record.name)
        return {"cli": groups[record.name]}

    found: dict[str, click.Command] = {}
    for record in host.call_each(COMMANDS, arguments):
        for name, command in groups[record.name].commands.items():
            if name in builtin or name in found:
                record.error = f"command {name!r} is already a command of mllbench; skipped"
                continue
            found[name] = command
            record.registered.setdefault("command", []).append(name)
    return found


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--benchmark", "-b", default=lambda: os.environ.get("MLLBENCH_BENCHMARK", DEFAULT_BENCHMARK),
              show_default="embedded", help="Benchmark name (see `mllbench benchmarks`) or a JSON definition.")
@click.option("--registry", envvar="MLLBENCH_REGISTRY", default=None,
              help="Registry directory (labels, predictions, results). Default: ~/.cache/mllbench/registry/<benchmark>.")
@click.option("--embedder", default=None, help="Text embedder for class/node captions: minilm, hashing, "
              "openai[:MODEL] (default text-embedding-3-large; OPENAI_API_KEY, OPENAI_BASE_URL), ...")
@click.option("--captioner", default=None, help="Caption generator for task classes: template, "
              "gpt[:MODEL] (default gpt-4, the paper's; OPENAI_API_KEY, OPENAI_BASE_URL), ...")
@click.option("--device", default=None, help="Torch device for models (default: cuda if available, else cpu).")
@click.option("--batch-size", multiple=True, callback=lambda ctx, param, v: batch_sizes(v), metavar="[MODEL=]N",
              help="Images per forward pass; MODEL=N for one model (repeatable; wins over the definition's).")
@click.option("--model-option", multiple=True, metavar="MODEL:KEY=VALUE",
              help="One model's setting: device, precision or batch_size (repeatable), e.g. "
                   "--model-option RN50x64:precision=amp. Order: this, the definition's entry, the global flags.")
@click.option("--precision", type=click.Choice(["fp32", "amp", "fp16"]), default=None,
              help="Model arithmetic: fp32 (default), amp (autocast mixed precision), fp16 (half weights, GPU).")
@click.option("--offline", is_flag=True, help="Never download: sets HF_HUB_OFFLINE=1 and MLLBENCH_OFFLINE=1 "
              "(GPT captions and OpenAI embeddings from the caches only).")
@click.option("--lovm-dir", type=click.Path(file_okay=False), default=None,
              help="LOVM's LOVM/ folder, for `--benchmark lovm` (or set MLLBENCH_LOVM_DIR). "
              "Default: fetched once from LOVM's repository at a pinned commit.")
@click.option("--mll-dir", type=click.Path(file_okay=False), default=None,
              help="The MLL authors' MLL/ folder, for `--captioner mll-official` (or set MLLBENCH_MLL_DIR). "
              "Default: fetched once from their repository at a pinned commit.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Where public datasets are read from and downloaded to (or set MLLBENCH_DATA_ROOT). "
              "Default: ~/.cache/mllbench/data.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.version_option(package_name="mllbench")
@click.pass_context
def cli(ctx, benchmark, registry, embedder, captioner, device, batch_size, model_option, precision, offline, lovm_dir,
        mll_dir, data_root, quiet):
    """Select and reuse pre-trained vision-language models (Model Label Learning).

    Typical use: `mllbench run --method mll --tasks all`, then
    `mllbench leaderboard`. Models run once; labels and predictions are
    cached in the registry, so scoring another selector takes seconds.
    """
    apply_environment(offline, lovm_dir, mll_dir, data_root)
    batch, per_model = batch_size
    for model_id, settings in model_options(model_option).items():
        per_model[model_id] = {**per_model.get(model_id, {}), **settings}
    ctx.obj = State(benchmark, registry, quiet, {"embedder": embedder, "captioner": captioner,
                                                  "device": device, "batch_size": batch,
                                                  "precision": precision})
    ctx.obj.per_model = per_model


def batch_sizes(values: tuple[str, ...]) -> tuple[int | None, dict[str, dict]]:
    """``--batch-size 32 --batch-size RN50x64=8`` as (32, {"RN50x64": {"batch_size": 8}})."""
    default, per_model = None, {}
    for value in values:
        model_id, _, number = value.rpartition("=")
        try:
            size = int(number)
        except ValueError:
            raise click.BadParameter(f"expected N or MODEL=N, got {value!r}") from None
        if size < 1:
            raise click.BadParameter(f"a batch size is at least 1, got {value!r}")
        if model_id:
            per_model[model_id] = {"batch_size": size}
        else:
            default = size
    return default, per_model


def model_options(values: tuple[str, ...]) -> dict[str, dict]:
    """``--model-option M:precision=amp`` as {"M": {"precision": "amp"}}, keys checked."""
    from mllbench.host.benchmark import MODEL_SETTINGS

    out: dict[str, dict] = {}
    for value in values:
        model_id, _, setting = value.rpartition(":")
        key, sep, text = setting.partition("=")
        if not model_id or not sep or key not in MODEL_SETTINGS:
            raise click.BadParameter(f"expected MODEL:KEY=VALUE with KEY one of {', '.join(MODEL_SETTINGS)}, "
                                     f"got {value!r}", param_hint="--model-option")
        if key == "batch_size" and not text.isdigit():
            raise click.BadParameter(f"a batch size is a number, got {value!r}", param_hint="--model-option")
        out.setdefault(model_id, {})[key] = int(text) if key == "batch_size" else text
    return out


def benchmark_here(f: Callable) -> Callable:
    """``--benchmark``/``--registry`` after the command too (``mllbench run --benchmark lovm``), as users type them."""
    def setter(attribute: str):
        def choose(ctx, param, value):
            if value is not None:
                setattr(ctx.find_object(State), attribute, value)
        return choose

    f = click.option("--registry", "registry_here", default=None, expose_value=False, callback=setter("registry"),
                     help="Registry directory (same as the global --registry).")(f)
    return click.option("--benchmark", "-b", "benchmark_here", default=None, expose_value=False,
                        callback=setter("benchmark_name"),
                        help="Benchmark name or JSON definition (same as the global --benchmark).")(f)


def with_options(options: list) -> Callable[[Callable], Callable]:
    """A decorator applying click options in the order listed."""
    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f
    return apply


def key_values(pairs: tuple[str, ...]) -> dict:
    """'-p a=1 -p b=x' as {'a': 1, 'b': 'x'}: JSON values where they parse, else strings."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def number_list(kind: type) -> Callable:
    """A click callback parsing '0.5,0.6' into a tuple of ``kind``."""
    def parse(ctx, param, value: str | None) -> tuple | None:
        if value is None:
            return None
        try:
            return tuple(kind(v) for v in value.split(",") if v.strip())
        except ValueError as exc:
            raise click.BadParameter(f"expected comma-separated {kind.__name__} values, got {value!r}") from exc
    return parse


def print_table(title: str, head: list[str], body: list[list[str]], fmt: str, notes: list[str] = ()) -> None:
    """A table with rich on screen, or as csv/markdown/latex text; ``notes`` below it (not in csv)."""
    from mllbench.report.leaderboard import render

    text = render(head, body, fmt)
    if text is None:
        from rich.markup import escape
        from rich.table import Table

        t = Table(title=escape(title), caption=escape("\n".join(notes)) or None, caption_justify="left")
        for col in head:
            left = col in ("method", "model", "version", "task")
            t.add_column(escape(col), justify="left" if left else "right", no_wrap=left)
        for row in body:
            t.add_row(*map(escape, row))
        console().print(t)
    else:
        click.echo(text)
        if fmt != "csv" and notes:
            click.echo("\n".join(notes) + "\n")


def stored_results(state: State, required: bool = True) -> list[dict]:
    """The benchmark's result files, oldest first; an error naming the fix when there are none
    (unless not ``required``: a report says so on its page)."""
    from mllbench.report.leaderboard import load_results

    session, bench = state.session, state.session.bench
    results = [r for r in load_results(session.store.results_dir(bench.name)) if r.get("benchmark") == bench.name]
    if not results and required:
        raise MllbenchError(f"no results for benchmark {bench.name!r} in {session.store.root}; "
                            "run `mllbench run --method mll --tasks all` first")
    return results


def experiments_folder(state: State) -> Path:
    """Where the experiments write by default (and `mllbench report` looks for them)."""
    return Path("mllbench-out") / state.bench.name


# the local executor's options (pipeline/local.py), by parameter name: their flags
LOCAL_OPTIONS = {"models_per_pass": "--models-per-pass", "decode_workers": "--decode-workers"}

# where models run, for the commands that run them (label, run): pipeline/executors.py
executor_options = with_options([
    click.option("--executor", default="local", show_default=True,
                 help="Where models run: local (this process; models sharing a transform labelled in one pass) "
                 "or ray (a Ray cluster, "
                 "`pip install 'mllbench[ray]'`; this process stays the registry's only writer)."),
    click.option("--models-per-pass", type=click.IntRange(min=1), default=None,
                 help="Local executor: models that share an image transform labelled together, each image decoded "
                 "once for all of them; at most this many loaded at once (memory). Default: 4; 1: one at a time."),
    click.option("--decode-workers", type=click.IntRange(min=0), default=None,
                 help="Local executor: processes decoding images ahead of the models. Default: CPUs - 1, at most 4."),
    click.option("--ray-address", default=None, help="Ray cluster: 'auto' joins the one `ray start --head` "
                 "started here, ray://HOST:10001 a remote head. Default: RAY_ADDRESS, else a new local Ray."),
    click.option("--ray-workers", type=int, default=None, help="Model workers (Ray actors; each holds one model "
                 "and takes many shards of it). Default: fill the cluster (GPUs / --gpus-per-model, else CPUs)."),
    click.option("--gpus-per-model", type=float, default=None, help="GPUs per model worker (0.5: two share a "
                 "GPU). Default: 1 on a cluster with GPUs, else 0."),
    click.option("--cpu-workers", type=int, default=None, help="CPUs set aside for Ray tasks that decode the "
                 "images of shards for the model workers. Default: 0 (each model worker decodes its own)."),
    click.option("--shard-batches", type=int, default=None, help="Batches of --batch-size images per shard, the "
                 "unit of scheduling, retry and commit. Default: 4."),
    click.option("--worker-threads", "ray_threads", type=int, default=None, help="torch CPU threads per model "
                 "worker. Default without GPUs: this process's count, so results equal the local executor's bit for "
                 "bit (a small batch's last bits depend on it); 1 is faster on a CPU cluster. With GPUs: Ray's."),
])
