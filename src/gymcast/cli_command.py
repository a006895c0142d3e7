"""The command line that runs gymcast's CLI in this interpreter's environment, for child processes."""

from __future__ import annotations

import sys


def command_line(*args: str) -> list[str]:
    """The argv that runs `gymcast ARGS` (`-P`: the current folder's files cannot shadow a module, as with the
    `gymcast` command)."""
    return [sys.executable, "-P", "-m", "gymcast.cli", *args]
