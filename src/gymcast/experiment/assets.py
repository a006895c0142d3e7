"""Images for object rendering: `rendering(assets={name: file | {file, frame_width, frame_height} | {file, atlas}})`."""

from __future__ import annotations

import re
from typing import Any

from gymcast.experiment.checks import check_int
from gymcast.experiment.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".svg")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def check_assets(assets: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each asset as {"file", and "frame_width"/"frame_height" for a sprite sheet or "atlas" for a JSON atlas}.

    Paths stay relative to the experiment folder; the build copies the files into the bundle.
    """
    checked: dict[str, dict[str, Any]] = {}
    for name, spec in (assets or {}).items():
        where = f"rendering.assets[{name!r}]"
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                where, "an asset name must be an identifier-like string", 'use names such as "chef" or "tiles"'
            )
        spec = {"file": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
            raise ConfigError(
                where,
                f"expected a file path or a dict with 'file', got {spec!r}",
                'pass "assets/chef.png" or {"file": "assets/tiles.png", "frame_width": 32, "frame_height": 32}',
            )
        unknown = set(spec) - {"file", "frame_width", "frame_height", "atlas"}
        if unknown:
            raise ConfigError(where, f"unknown keys {sorted(unknown)}", "use file, frame_width, frame_height or atlas")
        if not spec["file"].lower().endswith(IMAGE_SUFFIXES):
            raise ConfigError(
                f"{where}.file", f"{spec['file']!r} is not an image", f"use a {', '.join(IMAGE_SUFFIXES)} file"
            )
        sheet = "frame_width" in spec or "frame_height" in spec
        if sheet:
            for key in ("frame_width", "frame_height"):
                check_int(f"{where}.{key}", spec.get(key), 1, 4096)
        if "atlas" in spec and (sheet or not str(spec["atlas"]).endswith(".json")):
            raise ConfigError(
                f"{where}.atlas",
                "an atlas is a Phaser JSON atlas file, without frame sizes",
                'pass {"file": "atlas.png", "atlas": "atlas.json"}',
            )
        checked[name] = dict(spec)
    return checked
