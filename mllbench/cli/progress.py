"""Progress on the terminal: the ``Reporter`` (``pipeline.session``) the CLI hands a session.

One line per kind of work (per description), not one per call: a selector that
calls ``ctx.encode_text`` once per class makes thousands of reports of the same
description, and rich redraws every line it holds on every refresh, so one line
per call made a run's cost grow with the square of its calls (issue 18: 78 % of
a per-class selector's time was in ``Live.refresh``).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass
class _Line:
    """One rich task and the sums shown on it: every call's total, every call's progress."""

    task: Any  # rich's TaskID
    total: int = 0
    done: int = 0


class LineReporter:
    """``reporter(description, total) -> update(done, total, **fields)``, one rich task per description.

    A repeated description adds its total to its line and its progress on top
    of what earlier calls reported. Each call costs O(1) whatever came before:
    no task is added and nothing is redrawn (rich's auto refresh draws).
    """

    def __init__(self, progress: Any):
        self._progress = progress
        self._lines: dict[str, _Line] = {}

    def __call__(self, description: str, total: int) -> Callable[..., None]:
        line = self._lines.get(description)
        if line is None:
            line = self._lines[description] = _Line(self._progress.add_task(description, total=total, info=""))
        else:
            self._progress.update(line.task, total=line.total + total)
        line.total += total
        last_done, last_total = 0, total  # what this call reported last

        def update(done: int, total_: int, **fields: Any) -> None:
            nonlocal last_done, last_total
            line.done += done - last_done
            line.total += total_ - last_total
            last_done, last_total = done, total_
            self._progress.update(line.task, completed=line.done, total=line.total, **fields)
        return update


@contextmanager
def rich_reporter(console: Any) -> Iterator[Callable[[str, int], Callable[..., None]]]:
    """A rich progress display for one command: one updated line per kind of work."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False,
                  console=console) as bar:
        yield LineReporter(bar)
