"""The CLI and the plugin host: built-ins, a pip-installed selector, a broken plugin."""
import csv
import importlib.metadata as md
import json

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
    (["select", "--task", "x", "--method", "nope"], "unknown task 'x'"),
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
