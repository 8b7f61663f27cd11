"""Parameter ranges (mllbench/params.py): one-line errors from the CLI and the Python API, before any model runs."""
import math

import numpy as np
import pytest

from mllbench.contract.options import check_params, check_value
from mllbench.core.types import MllbenchError

HUB = 3  # models in the tiny benchmark (tests/conftest.py)


@pytest.mark.parametrize("name, value", [
    ("k", 1), ("k", HUB), ("k", np.int64(2)), ("k", 2.0),
    ("alpha", 0), ("alpha", 1), ("alpha", 0.0), ("alpha", 1.0), ("alpha", 0.7), ("alpha", np.float64(0.5)),
    ("nodes_per_class", 1), ("nodes_per_class", 50),
    ("logit_scale", 1e-6), ("logit_scale", 1.0), ("logit_scale", 100),
])
def test_boundary_and_ordinary_values_are_accepted(name, value):
    check_value(name, value, HUB)
    check_params({name: value}, HUB)


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
    ("logit_scale", 0, "--logit-scale must be a number > 0; got 0"),
    ("logit_scale", -1.0, "> 0; got -1"),
    ("logit_scale", math.inf, "a finite number > 0; got inf"),
])
def test_values_out_of_range_name_the_range(name, value, message):
    with pytest.raises(MllbenchError) as err:
        check_value(name, value, HUB)
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MllbenchError):
        check_params({name: value, "unrelated": -5}, HUB)


def test_k_without_a_hub_size_only_needs_to_be_positive():
    check_value("k", 1000)
    with pytest.raises(MllbenchError, match=">= 1"):
        check_value("k", 0)


def test_unchecked_names_and_none_pass():
    check_params({"normalize_z": True, "target": "raw", "alpha": None, "weird": -1}, HUB)


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
    (["run", "--method", "mll", "--alpha", "7"], ["--alpha", "between 0 and 1", "got 7"]),
    (["run", "--method", "mll", "--alpha", "-0.5"], ["--alpha", "between 0 and 1", "got -0.5"]),
    (["run", "--method", "mll", "--nodes-per-class", "0"], ["--nodes-per-class", ">= 1", "got 0"]),
    (["run", "--method", "mll", "--logit-scale", "0"], ["--logit-scale", "> 0", "got 0"]),
    (["run", "--method", "mll", "--logit-scale", "-3"], ["--logit-scale", "> 0", "got -3"]),
    (["run", "--method", "mll", "-p", "alpha=7"], ["alpha", "between 0 and 1", "got 7"]),
    (["run", "--method", "mll", "-p", "alpha=abc"], ["alpha", "between 0 and 1", "got 'abc'"]),
    (["run", "--method", "mll", "-p", "nodes_per_class=0"], ["nodes-per-class", ">= 1", "got 0"]),
    (["run", "--method", "mll", "-p", "nodes_per_class=2.5"], ["nodes-per-class", "whole number", "got 2.5"]),
    (["run", "--method", "mll", "-p", "logit_scale=-1"], ["logit-scale", "> 0", "got -1"]),
    (["select", "--task", "x", "--k", "0"], ["--k", "between 1 and 3", "got 0"]),
    (["select", "--task", "x", "--alpha", "1.5"], ["--alpha", "between 0 and 1", "got 1.5"]),
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


def test_python_api_checks_the_same_ranges(tiny_json, registry):
    from mllbench.host.benchmark import load_benchmark
    from mllbench.report.experiments import ReuseOptions, alpha_sweep, k_sweep
    from mllbench.host.plugins import get_host
    from mllbench.pipeline.run import run_method
from mllbench.pipeline.session import Session
    from mllbench.registry.store import Store

    s = Session(load_benchmark(get_host(), tiny_json), Store(registry), embedder="hashing")
    tasks = s.bench.resolve_tasks("all")
    with pytest.raises(MllbenchError, match=r"--k must be .*between 1 and 3"):
        run_method(s, "mll", tasks, {}, k=0)
    with pytest.raises(MllbenchError, match="--alpha must be between 0 and 1"):
        run_method(s, "mll", tasks, {"alpha": 7}, k=1)
    with pytest.raises(MllbenchError, match="--logit-scale must be a number > 0"):
        run_method(s, "mll", tasks, {}, k=1, logit_scale=0)
    with pytest.raises(MllbenchError, match=r"--k must be .*between 1 and 3"):
        s.reuse(tasks[0], np.zeros((HUB, 3)), 4, 100.0, "entropy")
    with pytest.raises(MllbenchError, match="--alphas must be between 0 and 1"):
        alpha_sweep(s, tasks, {}, ReuseOptions(), alphas=(0.5, 1.5))
    with pytest.raises(MllbenchError, match="--ks needs at least one value"):
        k_sweep(s, tasks, {}, ReuseOptions(), 0.7, ks=())
    assert not list(registry.rglob("*.h5"))


def test_reuse_settings_given_as_params_are_used_not_only_recorded(cli, tiny_json, registry):
    """`-p weighting=entropy` once wrote weighting=entropy into the result's params while the
    ensemble used the --weighting default: the params must say how the result was made."""
    import json
    from pathlib import Path

    def result(*options: str) -> dict:
        code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "--embedder", "hashing",
                        "run", "--method", "mll", "--k", "3", *options)
        assert code == 0, out
        return json.loads(Path(out.strip().splitlines()[-1].split(" to ")[-1]).read_text())

    via_param, via_flag = result("-p", "weighting=uniform"), result("--weighting", "uniform")
    assert via_param["params"] == via_flag["params"] and via_param["params"]["weighting"] == "uniform"
    assert ({t: r["predictions"] for t, r in via_param["tasks"].items()}
            == {t: r["predictions"] for t, r in via_flag["tasks"].items()})
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "--embedder", "hashing",
                    "run", "--method", "mll", "-p", "weighting=loudest")
    one_line_error(code, out, "--weighting", "inverse-entropy, entropy, uniform", "got 'loudest'")
    code, out = cli("-q", "-b", tiny_json, "--registry", str(registry), "--embedder", "hashing",
                    "run", "--method", "mll", "-p", "k=0")
    one_line_error(code, out, "--k", "between 1 and 3", "got 0")
