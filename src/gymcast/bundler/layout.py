"""Content-hashed placement: every immutable file lives under a folder named by its content hash."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from gymcast.bundle_files import HASH_CHARS, HASH_SEGMENT, is_hashed_path

__all__ = ["HASH_CHARS", "HASH_SEGMENT", "content_hash", "is_hashed_path", "place_hashed"]


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
