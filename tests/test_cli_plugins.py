"""The CLI and the plugin host: built-ins, a pip-installed selector, a broken plugin."""
import csv
import importlib.metadata as md
import json
import os
from pathlib import Path

import pytest

from mllbench.host.plugins import build_host

BUILTIN_SELECTORS = {"mll", "inb", "modelgpt"}


def installed(dist: str) -> bool:
    try:
        md.distribution(dist)
        return True
    except md.PackageNotFoundError:
        return False


def test_builtins_register_through_entry_points():
    host = build_host()
    assert BUILTIN_SELECTORS <= set(host.registries["selector"])
    assert "open_clip" in host.registries["model provider"]
    assert {"imagefolder", "corpus"} <= set(host.registries["dataset source"])
    assert "template" in host.registries["captioner"]
    assert {"minilm", "hashing"} <= set(host.registries["embedder"])
    assert "embedded" in host.registries["benchmark"]
    assert all(r.distribution == "mllbench" and r.error is None for r in host.plugins)


def test_plugins_json_lists_every_builtin(cli):
    code, out = cli("plugins", "--json")
    assert code == 0
    records = {r["name"]: r for r in json.loads(out)}
    assert records["mll"]["registered"] == {"selector": ["mll"]}
    assert records["openclip"]["hooks"] == ["register_model_providers"]
    assert records["openclip"]["options"] == {} and records["inb"]["options"] == {"inb": []}


def test_plugins_lists_each_selectors_declared_options(cli):
    """Type, default, range or choices and help of every option, as the plugins declare them."""
    code, out = cli("plugins", "--json")
    assert code == 0
    options = {name: {o["name"]: o for o in declared}
               for r in json.loads(out) for name, declared in r["options"].items()}
    assert options["mll"]["alpha"] == {"name": "alpha", "type": "float", "default": 0.7, "min": 0, "max": 1,
                                       "range": "a number between 0 and 1",
                                       "help": "Eq. 7 balance of class vs overall precision."}
    assert options["mll"]["nodes_per_class"] | {"help": ""} == {
        "name": "nodes_per_class", "type": "int", "default": 5, "min": 1, "max": None,
        "range": "a whole number >= 1", "help": ""}
    assert options["mll"]["normalize_z"]["type"] == "bool" and options["mll"]["normalize_z"]["default"] is False
    assert options["modelgpt"]["target"]["choices"] == ["centred", "raw"]
    assert set(options["modelgpt"]) == {"features", "target", "seed"} and options["inb"] == {}
    code, out = cli("plugins")
    assert code == 0
    for needle in ("selector options", "nodes_per_class", "a whole number >= 1", "one of centred, raw",
                   "true or false"):
        assert needle in out


def test_selector_options_are_flags_of_the_commands_that_select(cli):
    for command in (["run"], ["select"], ["predict"], ["experiment", "k"]):
        code, out = cli(*command, "--help")
        assert code == 0 and "--alpha FLOAT" in out and "--normalize-z / --raw-z" in out, out
        assert ("--target [centred|raw]" in out) == (command[0] != "experiment"), out
    code, out = cli("experiment", "alpha", "--help")
    assert code == 0 and "--alpha " not in out and "--alphas" in out and "--nodes-per-class" in out


@pytest.mark.skipif(not installed("mllbench-random"), reason="tox installs tests/thirdparty/mllbench-random")
def test_pip_installed_selector_shows_up_and_scores_on_the_leaderboard(cli, tiny_json, registry, monkeypatch):
    monkeypatch.delenv("MLLBENCH_PLUGINS")
    code, out = cli("plugins", "--json")
    records = {r["name"]: r for r in json.loads(out)}
    assert records["random"]["distribution"] == "mllbench-random"
    assert records["random"]["registered"] == {"selector": ["random"]}
    base = ["-q", "-b", tiny_json, "--registry", str(registry)]
    code, out = cli(*base, "run", "--method", "random", "--tasks", "all")
    assert code == 0, out
    code, out = cli(*base, "run", "--method", "inb")
    assert code == 0, out
    code, out = cli(*base, "leaderboard", "--format", "csv")
    assert code == 0, out
    rows = {row[0]: row for row in csv.reader(out.strip().splitlines()) if row}
    assert "random (k=1)" in rows and "inb (k=1)" in rows and "oracle (best single model)" in rows
    assert rows["random (k=1)"][1] == "0.2.0"  # the plugin's own version is recorded


@pytest.mark.skipif(not installed("mllbench-broken"), reason="tox installs tests/thirdparty/mllbench-broken")
def test_a_plugin_that_raises_on_import_is_reported_not_fatal(cli, monkeypatch):
    monkeypatch.delenv("MLLBENCH_PLUGINS")
    code, out = cli("plugins", "--json")
    assert code == 0
    records = {r["name"]: r for r in json.loads(out)}
    assert "ImportError" in records["broken"]["error"]
    assert records["mll"]["error"] is None
    monkeypatch.setenv("MLLBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(ImportError):
        build_host()


def test_duplicate_entry_point_names_are_reported():
    eps = [ep for ep in md.entry_points(group="mllbench") if ep.name == "mll"]
    host = build_host(eps + eps)
    assert "duplicate" in host.plugins[1].error
    assert "mll" in host.registries["selector"]


@pytest.mark.parametrize("args, message", [
    (["run", "--method", "nope"], "unknown selector 'nope'"),
    (["run", "--tasks", "nope"], "unknown task 'nope'"),
    (["-b", "nope", "models"], "unknown benchmark 'nope'"),
    (["select", "--task", "x"], "unknown task 'x'"),
    (["select", "--classes", "cat, dog", "--method", "nope"], "unknown selector 'nope'"),
])
def test_bad_names_are_one_line_errors(cli, tiny_json, registry, args, message):
    if args[0] != "-b":
        args = ["-b", tiny_json, "--registry", str(registry), *args]
    code, out = cli("-q", *args)
    assert code == 2
    assert out.strip().splitlines() == [f"Error: {out.strip()[len('Error: '):]}"]
    assert message in out and "Traceback" not in out


def test_leaderboard_without_results_names_the_fix(cli, tiny_json, registry):
    code, out = cli("-b", tiny_json, "--registry", str(registry), "leaderboard")
    assert code == 2 and "mllbench run --method mll" in out


def test_models_and_tasks_describe_the_benchmark(cli, tiny_json):
    code, out = cli("-b", tiny_json, "models")
    assert code == 0 and "tiny0" in out and "imagenet_acc" in out
    code, out = cli("-b", tiny_json, "tasks")
    assert code == 0 and "target" in out and "sample" in out


@pytest.mark.slow
def test_offline_hub_tag_fails_fast_with_the_fix(monkeypatch):
    pytest.importorskip("torch")
    from mllbench.plugins.openclip_provider import load_open_clip
    from mllbench.core.types import MllbenchError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MllbenchError, match="not cached"):
        load_open_clip({"model": "ViT-B-32", "pretrained": "openai"}, None)


def test_help_explains_the_commands(cli):
    code, out = cli("--help")
    assert code == 0
    for command in ("plugins", "models", "tasks", "label", "select", "run", "leaderboard"):
        assert command in out


@pytest.mark.skipif(not installed("mllbench-hello"), reason="tox installs tests/thirdparty/mllbench-hello")
def test_a_plugin_adds_a_command_and_a_selector_whose_options_are_flags(cli, tiny_json, registry, monkeypatch):
    monkeypatch.setenv("MLLBENCH_PLUGINS", os.environ["MLLBENCH_PLUGINS"] + ",hello")
    code, out = cli("--help")
    assert code == 0 and "hello" in out and "Say hello" in out
    code, out = cli("hello", "mll")
    assert (code, out) == (0, "Hello, mll! (mllbench plugin contract 1)\n")
    code, out = cli("plugins", "--json")
    record = {r["name"]: r for r in json.loads(out)}["hello"]
    assert record["registered"] == {"selector": ["rank"], "command": ["hello"]} and record["error"] is None
    assert record["hooks"] == ["register_selectors", "register_commands"]
    assert [o["name"] for o in record["options"]["rank"]] == ["rank", "reverse"]
    code, out = cli("run", "--help")
    assert "--rank INTEGER" in out and "--reverse / --no-reverse" in out
    base = ["-q", "-b", tiny_json, "--registry", str(registry)]
    code, out = cli(*base, "run", "-m", "rank", "--rank", "4")
    assert (code, out) == (2, "Error: --rank must be a whole number between 1 and 3 (the hub size); got 4\n")
    code, out = cli(*base, "run", "-m", "rank", "--rank", "2", "--reverse")
    assert code == 0, out
    result = json.loads(Path(out.strip().splitlines()[-1].split(" to ")[-1]).read_text())
    assert result["params"]["rank"] == 2 and result["params"]["reverse"] is True
    assert all(r["models_used"] == ["tiny1"] for r in result["tasks"].values())


@pytest.mark.skipif(not installed("mllbench-hello"), reason="tox installs tests/thirdparty/mllbench-hello")
def test_a_plugin_command_never_replaces_a_builtin_one(monkeypatch):
    from mllbench.cli.base import plugin_commands

    monkeypatch.setenv("MLLBENCH_PLUGINS", "hello")
    host = build_host()
    assert plugin_commands(host, {"run"}).keys() == {"hello"}
    assert plugin_commands(host, {"hello"}) == {}
    record = {r.name: r for r in host.plugins}["hello"]
    assert record.error == "command 'hello' is already a command of mllbench; skipped"


@pytest.mark.skipif(not installed("mllbench-oldstyle"), reason="tox installs tests/thirdparty/mllbench-oldstyle")
def test_an_old_style_bare_function_selector_still_runs_and_scores(cli, tiny_json, registry, monkeypatch):
    """A selector written against mllbench 0.1's docs (a bare function with ``.defaults``, old
    imports, every context service) runs unchanged; its parameters pass through -p."""
    monkeypatch.setenv("MLLBENCH_PLUGINS", os.environ["MLLBENCH_PLUGINS"] + ",oldstyle")
    with pytest.warns(DeprecationWarning, match="bare function"):
        selector = build_host().selector("oldstyle")
    assert selector.options == () and selector.defaults == {"nodes": 2}
    base = ["-q", "-b", tiny_json, "--registry", str(registry), "--embedder", "hashing"]
    for extra in ([], ["-p", "nodes=3"]):
        code, out = cli(*base, "run", "-m", "oldstyle", "--k", "2", *extra)
        assert code == 0, out
    code, out = cli(*base, "leaderboard", "--format", "csv", "--no-oracle")
    assert code == 0, out
    rows = {row["method"]: row for row in csv.DictReader(out.splitlines())}
    assert set(rows) == {"oldstyle (k=2)", "oldstyle (k=2, nodes=3)"}
    assert all(0 <= float(r["avg"]) <= 1 for r in rows.values())
    code, out = cli(*base, "run", "-m", "oldstyle", "--alpha", "0.5")
    assert code == 2 and "--alpha is an option of mll, not of oldstyle" in out
