"""The README's layout section names every module of the package, so it cannot silently fall behind."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("*.py", "*.js", "*.mjs", "*.css")


def test_the_layout_section_names_every_module():
    readme = REPO.joinpath("README.md").read_text()
    layout = readme[readme.index("## Layout") : readme.index("## Dependencies")]
    named = set(re.findall(r"[\w.]+\.(?:py|js|mjs|css|toml|html)", layout))
    missing = sorted(
        str(path.relative_to(REPO / "src"))
        for pattern in SOURCES
        for path in (REPO / "src").rglob(pattern)
        if path.name != "__init__.py" and path.parent.name != "static" and path.name not in named
    )
    assert not missing, f"README.md's Layout section does not name: {missing}"
