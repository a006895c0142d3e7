"""Modules a slim bundle left out (`gymcast.bundler.slim`) still import: from the full archive, fetched on first need.

The bundle ships only what a traced run imported. If the game later imports anything else, this
finder (last on `sys.meta_path`) fetches that module's full archive once, unpacks the files the slim
copy lacks, and reports the module, so the researcher sees it and the participant's game goes on.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import io
import os
import sys
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

STDLIB_ROOT = "/lib/python312.zip"  # Pyodide's standard library zip on sys.path
SITE_ROOT = "/lib/python3.12/site-packages"
STDLIB_UNPACK = "/lib/python3.12"  # on sys.path: where missing standard library modules are unpacked


class PrunedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds modules the slim archives left out, by unpacking their full archives.

    Args:
        archives: the manifest's `pruned` list: `[{"url", "unpack_to", "modules": [dotted names]}]`.
        fetch: returns the bytes at a bundle URL (the worker passes a synchronous XHR).
        report: called with (module, archive url) each time an archive is unpacked.
    """

    def __init__(
        self, archives: Sequence[dict[str, Any]], fetch: Callable[[str], bytes], report: Callable[[str, str], None]
    ) -> None:
        self.by_module = {module: archive for archive in archives for module in archive["modules"]}
        self.fetch = fetch
        self.report = report
        self.unpacked: set[str] = set()

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: Any = None) -> Any:
        archive = self.by_module.get(fullname)
        if archive is None:
            return None
        if archive["url"] not in self.unpacked:
            self._unpack(archive)
            self.report(fullname, archive["url"])
        search = (
            None if path is None else [*path, *(twin for entry in path if (twin := _unpacked_twin(entry)) != entry)]
        )
        return importlib.machinery.PathFinder.find_spec(fullname, search)

    def _unpack(self, archive: dict[str, Any]) -> None:
        target = archive["unpack_to"]
        data = self.fetch(archive["url"])
        data = data.to_bytes() if hasattr(data, "to_bytes") else bytes(data)  # a JS Uint8Array in the browser
        with zipfile.ZipFile(io.BytesIO(data)) as full:
            for name in full.namelist():
                if (
                    name.endswith("/")
                    or os.path.exists(os.path.join(target, name))
                    or os.path.exists(os.path.join(target, name + "c"))
                ):
                    continue
                full.extract(name, target)
        self.unpacked.add(archive["url"])
        importlib.invalidate_caches()


def _unpacked_twin(entry: str) -> str:
    """Where a package inside the standard library zip gets its unpacked modules."""
    return STDLIB_UNPACK + entry[len(STDLIB_ROOT) :] if entry.startswith(STDLIB_ROOT) else entry


def install(
    archives: Sequence[dict[str, Any]], fetch: Callable[[str], bytes], report: Callable[[str, str], None]
) -> None:
    """Put the finder last on `sys.meta_path` (once)."""
    if archives and not any(isinstance(finder, PrunedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(PrunedModuleFinder(archives, fetch, report))
