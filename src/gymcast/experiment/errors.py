"""The one error type of experiment validation."""

from __future__ import annotations


class ConfigError(ValueError):
    """An experiment field is wrong. The message names the field, the problem and the fix."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(f"{field}: {problem}. Fix: {fix}")
        self.field, self.problem, self.fix = field, problem, fix
