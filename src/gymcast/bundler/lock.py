"""Writes the bundle's `pyodide-lock.json`: exactly the shipped wheels, each with its sha256."""

from __future__ import annotations

import re
from pathlib import Path

from pyodide_lock import PyodideLockSpec
from pyodide_lock.utils import add_wheels_to_spec

from gymcast.wheels import FetchError, PinnedFile


def bundle_lock(
    official_lock: Path,
    official: dict[PinnedFile, tuple[str, str]],
    others: list[Path],
    packages_dir: Path,
    base_url: str,
) -> PyodideLockSpec:
    """A lock holding `official` Pyodide builds ({pin: (file_name, sha256 of the shipped file)}) plus the
    wheels `others` in `packages_dir`.

    `file_name`s are relative to Pyodide's index URL, so `base_url` leads from there to `packages_dir`.
    A pin whose sha256 differs from the official lock is an error: the manifest must follow it. The
    shipped file's own sha256 goes into the lock (a repacked wheel has a new one).
    """
    spec = PyodideLockSpec.from_json(official_lock)
    shipped = {}
    for pin, (file_name, shipped_sha256) in official.items():
        entry = spec.packages.get(pin.name)
        if entry is None or entry.sha256 != pin.sha256:
            found = entry.sha256 if entry else "no such package"
            raise FetchError(
                f"wheels/pins.toml pins {pin.file} at sha256 {pin.sha256}, but the official "
                f"pyodide-lock.json says {found}; copy the official hash into the manifest"
            )
        shipped[pin.name] = entry.model_copy(update={"file_name": file_name, "sha256": shipped_sha256})
    base = spec.model_copy(update={"packages": shipped})
    try:
        return add_wheels_to_spec(base, others, base_path=packages_dir, base_url=base_url)
    except RuntimeError as error:
        match = re.search(r"Requirement (\S+) from (\S+) is not in this distribution", str(error))
        if not match:
            raise
        raise FetchError(
            f"a shipped wheel needs {match.group(2)}, which the bundle does not contain; add "
            f'"{match.group(1)}==<version>" to .requirements(...) (pure-Python wheels only)'
        ) from None
