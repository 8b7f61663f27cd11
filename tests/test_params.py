"""Declared options (mllbench/contract/options.py): one check and one wording for a value however it
comes in (a flag, -p, the Python API, an experiment), before any model runs; the CLI's flags are
made from the selectors' declarations."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mllbench.contract import REUSE_OPTIONS, Option, ReuseSettings, check_params, check_value
from mllbench.core.types import MllbenchError
from mllbench.host.plugins import build_host

HUB = 3  # models in the tiny benchmark (tests/conftest.py)


@pytest.fixture
def declared():
    """The reuse settings and the MLL plugin's declared options, as the plugin declares them."""
    return (*REUSE_OPTIONS, *build_host().selector("mll").options)


@pytest.mark.parametrize("name, value", [
    ("k", 1), ("k", HUB), ("k", np.int64(2)), ("k", 2.0),
    ("alpha", 0), ("alpha", 1), ("alpha", 0.0), ("alpha", 1.0), ("alpha", 0.7), ("alpha", np.float64(0.5)),
    ("nodes_per_class", 1), ("nodes_per_class", 50), ("normalize_z", True), ("normalize_z", np.bool_(False)),
    ("logit_scale", 1e-6), ("logit_scale", 1.0), ("logit_scale", 100), ("weighting", "uniform"),
])
def test_boundary_and_ordinary_values_are_accepted(declared, name, value):
    check_value(name, value, HUB, options=declared)
    check_params({name: value}, HUB, options=declared)


@pytest.mark.parametrize("name, value, message", [
    ("k", 0, "--k must be a whole number between 1 and 3 (the hub size); got 0"),
    ("k", HUB + 1, "between 1 and 3 (the hub size); got 4"),
    ("k", -1, "between 1 and 3"),
    ("k", 1.5, "whole number between 1 and 3"),
    ("alpha", 7, "--alpha must be between 0 and 1; got 7"),
    ("alpha", -0.1, "between 0 and 1; got -0.1"),
    ("alpha", 1.0000001, "between 0 and 1"),
    ("alpha", math.nan, "a number between 0 and 1; got nan"),
    ("alpha", "abc", "a number between 0 and 1; got 'abc'"),
    ("alpha", True, "a number between 0 and 1; got True"),
    ("nodes_per_class", 0, "--nodes-per-class must be a whole number >= 1; got 0"),
    ("nodes_per_class", 2.5, "whole number >= 1; got 2.5"),
    ("normalize_z", "yes", "--normalize-z must be true or false; got 'yes'"),
    ("logit_scale", 0, "--logit-scale must be a number > 0; got 0"),
    ("logit_scale", -1.0, "> 0; got -1"),
    ("logit_scale", math.inf, "a finite number > 0; got inf"),
    ("weighting", "loudest", "--weighting must be one of inverse-entropy, entropy, uniform; got 'loudest'"),
])
def test_values_out_of_range_name_the_range(declared, name, value, message):
    with pytest.raises(MllbenchError) as err:
        check_value(name, value, HUB, options=declared)
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MllbenchError):
        check_params({name: value, "unrelated": -5}, HUB, options=declared)


def test_k_without_a_hub_size_only_needs_to_be_positive():
    check_value("k", 1000)
    with pytest.raises(MllbenchError, match=">= 1"):
        check_value("k", 0)


def test_unchecked_names_and_none_pass(declared):
    check_params({"normalize_z": True, "target": "raw", "alpha": None, "weird": -1}, HUB, options=declared)


def test_the_core_checks_only_the_reuse_settings_mll_checks_its_own():
    """MLL's options are the MLL plugin's: the core's default checks know only k, logit_scale, weighting."""
    assert [o.name for o in REUSE_OPTIONS] == ["k", "logit_scale", "weighting"]
    check_params({"alpha": 7, "nodes_per_class": 0})
    mll = build_host().selector("mll")
    assert {o.name: o.default for o in mll.options} == {"alpha": 0.7, "nodes_per_class": 5, "normalize_z": False}
    with pytest.raises(MllbenchError, match="--alpha must be between 0 and 1; got 7"):
        mll.check({"alpha": 7})
    with pytest.raises(MllbenchError, match="selector 'mll' has no option 'alhpa'; its options: alpha, "):
        mll.check({"alhpa": 0.5})


@pytest.mark.parametrize("declaration, message", [
    (dict(name="x", type="number"), "option 'x' has type 'number'; use one of int, float, bool, str, choice"),
    (dict(name="x", type="choice"), "choices go with type 'choice'"),
    (dict(name="x", type="int", choices=("a",)), "choices go with type 'choice'"),
    (dict(name="x-y", type="int"), "option name 'x-y' is not usable"),
    (dict(name="x", type="float", default=2, min=0, max=1), "the default of option 'x' must be between 0 and 1"),
])
def test_a_bad_declaration_is_a_one_line_error(declaration, message):
    with pytest.raises(MllbenchError, match=message):
        Option(**declaration)


@pytest.mark.parametrize("declaration, wanted", [
    (dict(type="int"), "a whole number"),
    (dict(type="int", min=0, max=10), "a whole number between 0 and 10"),
    (dict(type="float"), "a finite number"),
    (dict(type="float", max=1, max_open=True), "a finite number < 1"),
    (dict(type="float", min=0, max=1, min_open=True), "a finite number > 0 and <= 1"),
    (dict(type="choice", choices=("a", "b")), "one of a, b"),
    (dict(type="str"), "a text"),
])
def test_ranges_in_words(declaration, wanted):
    assert Option("x", **declaration).wanted() == wanted


def test_flag_text_parses_as_the_option_type():
    alpha, nodes, flag = (Option("a", "float"), Option("n", "int"), Option("f", "bool"))
    assert alpha.parse("2") == 2.0 and isinstance(alpha.parse("2"), float) and alpha.parse("abc") == "abc"
    assert nodes.parse("3") == 3 and nodes.parse("2.5") == 2.5 and nodes.parse("x") == "x"
    assert (flag.parse("true"), flag.parse("no"), flag.parse("maybe")) == (True, False, "maybe")


def test_reuse_settings_take_params_over_flags_and_check_them():
    reuse, rest = ReuseSettings.take({"k": 2, "alpha": 0.5}, HUB, k=3, weighting="uniform")
    assert reuse == ReuseSettings(2, 100.0, "uniform") and rest == {"alpha": 0.5}
    assert reuse.as_params() == {"k": 2, "logit_scale": 100.0, "weighting": "uniform"}
    with pytest.raises(MllbenchError, match="--weighting must be one of"):
        ReuseSettings.take({}, HUB, weighting="loud")


def one_line_error(code: int, out: str, *needles: str) -> None:
    lines = out.strip().splitlines()
    assert code != 0, out
    assert len(lines) == 1 and lines[0].startswith("Error: "), out
    assert "Traceback" not in out
    for needle in needles:
        assert needle in out, out


@pytest.mark.parametrize("args, needles", [
    (["run", "--method", "mll", "--k", "0"], ["--k", "between 1 and 3 (the hub size)", "got 0"]),
    (["run", "--method", "mll", "--k", "4"], ["--k", "between 1 and 3 (the hub size)", "got 4"]),
    (["run", "--method", "inb", "--k", "-2"], ["--k", "between 1 and 3", "got -2"]),
    (["run", "--method", "mll", "--k", "1.5"], ["--k", "whole number between 1 and 3", "got 1.5"]),
    (["run", "--method", "mll", "--alpha", "7"], ["--alpha", "between 0 and 1", "got 7"]),
    (["run", "--method", "mll", "--alpha", "-0.5"], ["--alpha", "between 0 and 1", "got -0.5"]),
    (["run", "--method", "mll", "--alpha", "abc"], ["--alpha must be a number between 0 and 1; got 'abc'"]),
    (["run", "--method", "mll", "--nodes-per-class", "0"], ["--nodes-per-class", ">= 1", "got 0"]),
    (["run", "--method", "mll", "--logit-scale", "0"], ["--logit-scale", "> 0", "got 0"]),
    (["run", "--method", "mll", "--logit-scale", "-3"], ["--logit-scale", "> 0", "got -3"]),
    (["run", "--method", "mll", "--weighting", "loud"], ["--weighting must be one of", "got 'loud'"]),
    (["run", "--method", "mll", "-p", "alpha=7"], ["alpha", "between 0 and 1", "got 7"]),
    (["run", "--method", "mll", "-p", "alpha=abc"], ["alpha", "between 0 and 1", "got 'abc'"]),
    (["run", "--method", "mll", "-p", "nodes_per_class=0"], ["nodes-per-class", ">= 1", "got 0"]),
    (["run", "--method", "mll", "-p", "nodes_per_class=2.5"], ["nodes-per-class", "whole number", "got 2.5"]),
    (["run", "--method", "mll", "-p", "logit_scale=-1"], ["logit-scale", "> 0", "got -1"]),
    (["run", "--method", "mll", "-p", "alhpa=0.5"], ["selector 'mll' has no option 'alhpa'", "its options: alpha"]),
    (["run", "--method", "inb", "--alpha", "0.5"], ["--alpha is an option of mll, not of inb", "no options"]),
    (["run", "--method", "mll", "--target", "raw"], ["--target is an option of modelgpt, not of mll"]),
    (["run", "--method", "modelgpt", "--target", "rank"], ["--target must be one of centred, raw; got 'rank'"]),
    (["run", "--method", "modelgpt", "-p", "features=X"], ["unknown ModelGPT feature 'X'"]),
    (["run", "--method", "mll", "--dry-run", "--alpha", "2"], ["--alpha must be between 0 and 1; got 2"]),
    (["select", "--task", "x", "--k", "0"], ["--k", "between 1 and 3", "got 0"]),
    (["select", "--task", "x", "--alpha", "1.5"], ["--alpha", "between 0 and 1", "got 1.5"]),
    (["select", "--classes", "a, b", "-p", "alpha=1.5"], ["--alpha", "between 0 and 1", "got 1.5"]),
    (["experiment", "alpha", "--alphas", "0.5,2"], ["--alphas", "between 0 and 1", "got 2"]),
    (["experiment", "alpha", "--nodes-per-class", "0"], ["--nodes-per-class", ">= 1"]),
    (["experiment", "k", "--ks", "1,0"], ["--ks", "between 1 and 3 (the hub size)", "got 0"]),
    (["experiment", "k", "--ks", "1,9"], ["--ks", "between 1 and 3 (the hub size)", "got 9"]),
    (["experiment", "k", "--alpha", "7"], ["--alpha", "between 0 and 1", "got 7"]),
    (["experiment", "growth", "--logit-scale", "0"], ["--logit-scale", "> 0"]),
])
def test_cli_rejects_values_out_of_range_in_one_line_before_any_model_runs(cli, tiny_json, registry, tmp_path,
                                                                           args, needles):
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), *args, *(
        ["--out", str(tmp_path / "out")] if args[0] == "experiment" else []))
    one_line_error(code, out, *needles)
    assert not list(registry.rglob("*.h5")), "a model ran before the parameters were checked"


def test_a_flag_and_p_fail_with_the_same_message_made_from_the_declaration(cli, tiny_json, registry):
    """`--alpha 2` and `-p alpha=2` say the same line, and it is the MLL plugin's declaration's."""
    alpha = build_host().selector("mll").option("alpha")
    with pytest.raises(MllbenchError) as err:
        alpha.check(2)
    outputs = [cli("-q", "-b", tiny_json, "--registry", str(registry), "run", "-m", "mll", *args)
               for args in (["--alpha", "2"], ["-p", "alpha=2"])]
    assert outputs[0] == outputs[1] == (2, f"Error: {err.value}\n")
    assert str(err.value) == "--alpha must be between 0 and 1; got 2"


def test_python_api_checks_the_same_ranges(tiny_json, registry):
    from mllbench.api import Hub
    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import get_host
    from mllbench.pipeline.run import run_method
    from mllbench.pipeline.session import Session
    from mllbench.registry.store import Store
    from mllbench.report.experiments import ReuseOptions, alpha_sweep, k_sweep

    s = Session(load_benchmark(get_host(), tiny_json), Store(registry), embedder="hashing")
    tasks = s.bench.resolve_tasks("all")
    with pytest.raises(MllbenchError, match=r"--k must be .*between 1 and 3"):
        run_method(s, "mll", tasks, {}, k=0)
    with pytest.raises(MllbenchError, match="--alpha must be between 0 and 1"):
        run_method(s, "mll", tasks, {"alpha": 7}, k=1)
    with pytest.raises(MllbenchError, match="--logit-scale must be a number > 0"):
        run_method(s, "mll", tasks, {}, k=1, logit_scale=0)
    with pytest.raises(MllbenchError, match="--target must be one of centred, raw; got 'rank'"):
        run_method(s, "modelgpt", tasks, {"target": "rank"}, k=1)
    with pytest.raises(MllbenchError, match="--nodes-per-class must be a whole number >= 1; got 0"):
        Hub(s).select(["cat", "dog"], nodes_per_class=0)
    with pytest.raises(MllbenchError, match="--weighting must be one of"):
        Hub(s).select(["cat", "dog"], weighting="loud")
    with pytest.raises(MllbenchError, match=r"--k must be .*between 1 and 3"):
        s.reuse(tasks[0], np.zeros((HUB, 3)), 4, 100.0, "entropy")
    with pytest.raises(MllbenchError, match="--alphas must be between 0 and 1"):
        alpha_sweep(s, tasks, {}, ReuseOptions(), alphas=(0.5, 1.5))
    with pytest.raises(MllbenchError, match="--ks needs at least one value"):
        k_sweep(s, tasks, {}, ReuseOptions(), 0.7, ks=())
    assert not list(registry.rglob("*.h5"))


def result_of(cli, tiny_json, registry, *options: str) -> dict:
    """Run the tiny benchmark through the CLI and read the result file it names."""
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "--embedder", "hashing", "run", *options)
    assert code == 0, out
    return json.loads(Path(out.strip().splitlines()[-1].split(" to ")[-1]).read_text())


def test_reuse_settings_given_as_params_are_used_not_only_recorded(cli, tiny_json, registry):
    """`-p weighting=entropy` once wrote weighting=entropy into the result's params while the
    ensemble used the --weighting default: the params must say how the result was made."""
    via_param = result_of(cli, tiny_json, registry, "--method", "mll", "--k", "3", "-p", "weighting=uniform")
    via_flag = result_of(cli, tiny_json, registry, "--method", "mll", "--k", "3", "--weighting", "uniform")
    assert via_param["params"] == via_flag["params"] and via_param["params"]["weighting"] == "uniform"
    assert ({t: r["predictions"] for t, r in via_param["tasks"].items()}
            == {t: r["predictions"] for t, r in via_flag["tasks"].items()})
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "--embedder", "hashing",
                    "run", "--method", "mll", "-p", "weighting=loudest")
    one_line_error(code, out, "--weighting", "inverse-entropy, entropy, uniform", "got 'loudest'")
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "--embedder", "hashing",
                    "run", "--method", "mll", "-p", "k=0")
    one_line_error(code, out, "--k", "between 1 and 3", "got 0")


def test_results_record_the_params_they_always_did(cli, tiny_json, registry):
    """A result's params (and so its file name and leaderboard label) are as before options
    were declared: MLL records its defaults, ModelGPT only what was given; flags as -p."""
    reuse = {"k": 1, "logit_scale": 100.0, "weighting": "inverse-entropy", "captioner": "template",
             "embedder": "hashing"}
    mll = result_of(cli, tiny_json, registry, "-m", "mll")
    assert mll["params"] == {**reuse, "alpha": 0.7, "nodes_per_class": 5, "normalize_z": False}
    flags = result_of(cli, tiny_json, registry, "-m", "mll", "--alpha", "0.5", "--normalize-z",
                      "--nodes-per-class", "3")
    assert flags["params"] == {**reuse, "alpha": 0.5, "nodes_per_class": 3, "normalize_z": True}
    assert result_of(cli, tiny_json, registry, "-m", "mll", "-p", "alpha=1", "--raw-z")["params"]["alpha"] == 1
    assert result_of(cli, tiny_json, registry, "-m", "modelgpt")["params"] == reuse
    assert result_of(cli, tiny_json, registry, "-m", "modelgpt", "--target", "raw")["params"] == {**reuse,
                                                                                                   "target": "raw"}
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "leaderboard", "--format", "csv",
                    "--no-oracle")
    assert code == 0, out
    labels = [row["method"] for row in csv.DictReader(out.splitlines())]
    assert sorted(labels) == ["mll (k=1)", "mll (k=1, alpha=0.5, nodes_per_class=3, normalize_z=True)",
                              "mll (k=1, alpha=1)", "modelgpt (k=1)", "modelgpt (k=1, target=raw)"]
