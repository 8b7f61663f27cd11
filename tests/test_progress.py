"""The CLI's progress display: one line per kind of work, however many calls report it.

A selector that calls ``ctx.encode_text`` once per class reports the same
description thousands of times; one rich line per call made the display's cost
grow with the square of the calls (issue 18). These tests read what the real
rich display prints.
"""
from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from mllbench.cli.progress import rich_reporter


def display(drive) -> list[str]:
    """The lines the real reporter prints at the end of a command, on a non-terminal console."""
    out = io.StringIO()
    with rich_reporter(Console(file=out, width=160, force_terminal=False)) as reporter:
        drive(reporter)
    return [line for line in out.getvalue().splitlines() if line.strip()]


def counts(lines: list[str], description: str) -> list[str]:
    """The ``done/total`` of each printed line of ``description``."""
    return [re.search(r"(\d+)/(\d+)", line.split(description, 1)[1]).group(0)
            for line in lines if line.startswith(description + " ")]


def test_many_calls_of_one_description_make_one_line_with_summed_totals_and_progress():
    def drive(reporter):
        for i in range(600):  # e.g. one encode_text call per class and model
            update = reporter("encode texts with vit-s-all", 3)
            update(1, 3)
            update(3, 3)
        for _ in range(4):
            reporter("embed texts (minilm)", 5)(5, 5)
    lines = display(drive)
    assert counts(lines, "encode texts with vit-s-all") == ["1800/1800"]
    assert counts(lines, "embed texts (minilm)") == ["20/20"]
    assert len(lines) == 2


def test_a_call_adds_its_progress_on_top_of_what_earlier_calls_reported():
    def drive(reporter):
        first = reporter("label m", 10)
        first(4, 10)  # stopped short (e.g. an error caught further up)
        second = reporter("label m", 10)
        second(2, 10)
        first(6, 10)  # calls may interleave: each moves the line by its own progress
        second(7, 10)
    assert counts(display(drive), "label m") == ["13/20"]


def test_a_call_that_changes_its_total_moves_the_line_by_the_difference_and_fields_are_shown():
    def drive(reporter):
        reporter("predict m on animals", 40)(40, 40)
        update = reporter("m (ray)", 100)
        update(0, 100, info="0/4 shards")
        update(90, 90, info="4/4 shards, 12 img/s")
    lines = display(drive)
    assert counts(lines, "predict m on animals") == ["40/40"]
    assert counts(lines, "m (ray)") == ["90/90"]
    assert any(line.startswith("m (ray) ") and line.rstrip().endswith("4/4 shards, 12 img/s") for line in lines)


@pytest.mark.slow
def test_a_session_encoding_one_class_at_a_time_shows_one_line_per_model(tiny_json, registry):
    """Through the real Session: each encode_text call with missing texts reports its work."""
    from mllbench.host.benchmark import load_benchmark
    from mllbench.host.plugins import get_host
    from mllbench.pipeline.session import Session
    from mllbench.registry.store import Store

    session = Session(load_benchmark(get_host(), tiny_json), Store(registry), embedder="hashing")
    classes = [f"a photo of class {i}" for i in range(30)]

    def drive(reporter):
        session.report = reporter
        for model_id in ("tiny0", "tiny1"):
            for name in classes:
                session.encode_text(model_id, [name, name + " in a drawing"])
    lines = display(drive)
    assert counts(lines, "encode texts with tiny0") == ["60/60"]
    assert counts(lines, "encode texts with tiny1") == ["60/60"]
    assert len(lines) == 2
