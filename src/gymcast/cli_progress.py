"""Rich progress bars for the CLI: the `gymcast.progress.Progress` the commands pass to long work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from gymcast.progress import Progress, Task


class _RichTask:
    def __init__(self, bars: RichProgress, task: TaskID) -> None:
        self.bars = bars
        self.task_id = task

    def advance(self, amount: int) -> None:
        self.bars.advance(self.task_id, amount)

    def complete(self) -> None:
        total = self.bars.tasks[self.task_id].total
        if total is None:
            self.bars.update(self.task_id, total=1, completed=1)
        else:
            self.bars.update(self.task_id, completed=total)


class _RichBars:
    def __init__(self, bars: RichProgress) -> None:
        self.bars = bars
        self.stages: TaskID | None = None

    def stage(self, description: str, index: int, total: int) -> None:
        if self.stages is None:
            self.stages = self.bars.add_task(description, total=total)
        self.bars.update(self.stages, description=description, completed=index, total=total)

    def task(self, description: str, total: int | None) -> Task:
        return _RichTask(self.bars, self.bars.add_task(description, total=total))


@contextmanager
def rich_progress(console: Console) -> Iterator[Progress]:
    """Progress bars on `console` while the block runs."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with RichProgress(*columns, console=console) as bars:
        yield _RichBars(bars)
