"""Per-model settings: the CLI's per-model flags, then the definition's entry, then the session's."""
from __future__ import annotations

import json

import click
import pytest

import harness
from mllbench.cli.base import batch_sizes, model_options


def test_cli_parses_per_model_batch_sizes_and_options():
    assert batch_sizes(("32", "RN50x64=8")) == (32, {"RN50x64": {"batch_size": 8}})
    assert model_options(("RN50x64:precision=amp", "hf:org/name:batch_size=4")) == {
        "RN50x64": {"precision": "amp"}, "hf:org/name": {"batch_size": 4}}
    for bad in (("RN50x64=zero",), ("x=0",)):
        with pytest.raises(click.BadParameter):
            batch_sizes(bad)
    with pytest.raises(click.BadParameter, match="KEY one of device, precision, batch_size"):
        model_options(("RN50x64:lr=1",))


def test_a_definition_entry_wins_over_the_session_and_the_cli_over_both(tiny_bench_dir, tmp_path):
    data = json.loads((tiny_bench_dir / "tiny.json").read_text())
    data["models"][0]["run"] = {"batch_size": 2, "precision": "amp"}
    path = tiny_bench_dir / "per-model.json"
    path.write_text(json.dumps(data))
    s = harness.tiny_session(path, tmp_path / "reg", batch_size=16, precision="fp32")
    first, second = data["models"][0]["id"], data["models"][1]["id"]
    assert s.models.options(first)["batch_size"] == 2 and s.models.options(first)["precision"] == "amp"
    assert s.models.batch_size(second) == 16 and s.models.options(second)["precision"] == "fp32"
    s.models.overrides[first] = {"batch_size": 1}
    assert s.models.batch_size(first) == 1
    assert s.models.fingerprint(first)["precision"] == "amp" and s.models.fingerprint(second)["precision"] == "fp32"
