"""The formatter, the linter and the type checker configured in pyproject.toml pass on the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "tool",
    [
        ["ruff", "format", "--check", "."],
        ["ruff", "check", "."],
        ["mypy"],  # files and settings: [tool.mypy] in pyproject.toml (src/gymcast)
    ],
    ids=["ruff-format", "ruff-check", "mypy"],
)
def test_the_code_passes(tool):
    result = subprocess.run([sys.executable, "-m", *tool], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(tool)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-2000:]}"
