"""Content-hashed placement: every immutable file lives under a folder named by its content hash."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

HASH_CHARS = 16
#: A path segment that is a content hash; the host serves such paths as immutable.
HASH_SEGMENT = re.compile(rf"^[0-9a-f]{{{HASH_CHARS}}}$")


def content_hash(files: dict[str, Path]) -> str:
    """A 16-hex-char hash over the names and bytes of `files` ({relative name: path})."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0")
        with files[name].open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:HASH_CHARS]


def place_hashed(files: dict[str, Path], bundle: Path, group: str) -> str:
    """Copy `files` into `bundle/group/<hash>/` and return that folder's bundle-relative path with a trailing slash."""
    folder = f"{group}/{content_hash(files)}"
    for name, source in files.items():
        target = bundle / folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return folder + "/"


def is_hashed_path(path: str) -> bool:
    """True when a path lies under a content-hash folder, so its bytes never change."""
    return any(HASH_SEGMENT.match(part) for part in path.split("/")[:-1])
