"""What a bundle's files are, shared by the bundler that writes them and the host that serves them."""

from __future__ import annotations

import re
from pathlib import Path

HASH_CHARS = 16
#: A path segment that is a content hash; the host serves such paths as immutable.
HASH_SEGMENT = re.compile(rf"^[0-9a-f]{{{HASH_CHARS}}}$")
#: Pre-compressed copies: Content-Encoding -> file suffix.
ENCODINGS = {"br": ".br", "gzip": ".gz"}
#: Files every bundle has besides those its manifest lists (the manifest itself).
ENTRY_FILES = ("manifest.json",)
#: The host-only file the bundler writes next to a bundle folder (completion codes); never served.
HOST_FILE_SUFFIX = ".host.json"


def is_hashed_path(path: str) -> bool:
    """True when a path lies under a content-hash folder, so its bytes never change."""
    return any(HASH_SEGMENT.match(part) for part in path.split("/")[:-1])


def host_file(bundle: Path) -> Path:
    """Where the host-only file of `bundle` lives: a sibling of the folder, so copying the folder to a
    static host never publishes it."""
    root = bundle.resolve()
    return root.with_name(root.name + HOST_FILE_SUFFIX)
