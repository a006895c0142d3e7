"""The one error type of experiment validation, and the traceback excerpt it can carry."""

from __future__ import annotations

import traceback

TRACEBACK_LINES = 8


class ConfigError(ValueError):
    """An experiment field is wrong. The message names the field, the problem and the fix.

    `details` (e.g. the last lines of the env's traceback, see `traceback_tail`) follow on the next lines.
    """

    def __init__(self, field: str, problem: str, fix: str, details: str = "") -> None:
        message = f"{field}: {problem}. Fix: {fix}"
        super().__init__(f"{message}\n{details}" if details else message)
        self.field, self.problem, self.fix, self.details = field, problem, fix, details


def traceback_tail(error: BaseException | str, lines: int = TRACEBACK_LINES) -> str:
    """The last `lines` lines of `error`'s traceback (or of a traceback's text), indented."""
    text = error if isinstance(error, str) else "".join(traceback.format_exception(error))
    tail = [line for line in text.rstrip().splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line.rstrip() for line in tail)
