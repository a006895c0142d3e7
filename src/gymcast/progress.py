"""How long work reports its progress, without a console: the caller passes a `Progress` implementation.

The bundler and the fetcher call these methods; the CLI shows them as rich bars (`gymcast.cli_progress`),
and library use stays silent (`SILENT`).
"""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    """One unit of work with an optional size (bytes, say)."""

    def advance(self, amount: int) -> None:
        """`amount` more units are done."""

    def complete(self) -> None:
        """The task is done (also when its size was unknown)."""


class Progress(Protocol):
    """Receives a build's stages and the tasks within them."""

    def stage(self, description: str, index: int, total: int) -> None:
        """Stage `index` (0-based) of `total` began; `index == total` means the whole job is done."""

    def task(self, description: str, total: int | None) -> Task:
        """A new task of `total` units (None when unknown)."""


class _SilentTask:
    def advance(self, amount: int) -> None:
        pass

    def complete(self) -> None:
        pass


class _Silent:
    def stage(self, description: str, index: int, total: int) -> None:
        pass

    def task(self, description: str, total: int | None) -> Task:
        return _SilentTask()


SILENT: Progress = _Silent()
"""Reports nothing."""


class Stages:
    """Counts a job's stages for a `Progress`: `next(description)` starts the next one."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.total = total
        self.index = -1

    def next(self, description: str) -> None:
        """Start the next stage."""
        self.index += 1
        self.progress.stage(description, self.index, self.total)

    def done(self) -> None:
        """Every stage is over."""
        self.progress.stage("done", self.total, self.total)
