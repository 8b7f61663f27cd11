"""Progress on the terminal: the ``Reporter`` (``pipeline.session``) the CLI hands a session."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator


@contextmanager
def rich_reporter(console: Any) -> Iterator[Callable[[str, int], Callable[..., None]]]:
    """A rich progress display for one command; a sub-task per model/task."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False,
                  console=console) as bar:
        def reporter(description: str, total: int) -> Callable[..., None]:
            task = bar.add_task(description, total=total, info="")
            return lambda done, total_, **fields: bar.update(task, completed=done, total=total_, **fields)

        yield reporter
