"""Pyodide's own distribution: the packages its official `pyodide-lock.json` lists, compiled ones included.

An experiment's requirement that names one of them (`"scipy"`, `"pygame-ce==2.4.1"`) ships that official
build with its dependencies from the lock; the lock fixes the version.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from gymcast.wheels.fetch import FetchError
from gymcast.wheels.pins import PinnedFile

IMPORT_ALIASES = {"pygame": "pygame-ce"}
"""PyPI names that Pyodide's distribution provides under another name (same import)."""


@dataclass(frozen=True)
class Requirement:
    """An experiment's requirement: a name and an optional exact version."""

    name: str
    version: str | None

    @classmethod
    def parse(cls, spec: str) -> Requirement:
        """`"name"` or `"name==version"`."""
        name, _, version = spec.partition("==")
        return cls(name.strip(), version.strip() or None)

    def __str__(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name


class OfficialDistribution:
    """The packages of one Pyodide release, read from its official lock file."""

    def __init__(self, lock_path: Path) -> None:
        data = json.loads(lock_path.read_text())
        self.pyodide_version: str = data["info"]["version"]
        self.entries: dict[str, dict] = {canonicalize_name(key): entry for key, entry in data["packages"].items()}
        self.lock_keys: dict[str, str] = {canonicalize_name(key): key for key in data["packages"]}

    def key(self, name: str) -> str | None:
        """The lock's key for a package name (or a name it provides under another, e.g. pygame), or None."""
        wanted = canonicalize_name(name)
        wanted = canonicalize_name(IMPORT_ALIASES.get(wanted, wanted))
        return wanted if wanted in self.entries else None

    def provider(self, module: str) -> str | None:
        """The lock's key for the package that provides the top-level import `module` (pygame: pygame-ce), or None."""
        for key, entry in sorted(self.entries.items()):
            if module in entry.get("imports", []):
                return key
        return None

    def pin(self, key: str) -> PinnedFile:
        """The official file of the package `key`, as a pin the fetcher verifies."""
        entry = self.entries[key]
        return PinnedFile(self.lock_keys[key], entry["version"], entry["file_name"], entry["sha256"], "pyodide")

    def resolve(self, requirements: list[Requirement], shipped: set[str]) -> list[PinnedFile]:
        """Pins of the official packages `requirements` name, with every dependency the lock lists for them,
        except those in `shipped` (canonical names already in the bundle). A pinned version other than the
        lock's is an error naming the version available."""
        pins: dict[str, PinnedFile] = {}
        pending: list[str] = []
        for requirement in requirements:
            key = self.key(requirement.name)
            assert key is not None, f"{requirement} is not in the distribution; check with key() first"
            available = self.entries[key]["version"]
            if requirement.version is not None and requirement.version != available:
                raise FetchError(
                    f"requirements: {requirement} is not available: Pyodide {self.pyodide_version}'s distribution "
                    f'has {key} {available} only. Fix: write "{key}=={available}" (or just "{key}")'
                )
            pending.append(key)
        while pending:
            key = pending.pop()
            if key in pins or key in shipped or self.lock_keys[key] in shipped:
                continue
            pins[key] = self.pin(key)
            pending.extend(canonicalize_name(dep) for dep in self.entries[key].get("depends", []))
        return sorted(pins.values(), key=lambda pin: pin.name)

    def is_compiled(self, key: str) -> bool:
        """Whether the package's official file is a compiled build (not a pure-Python wheel PyPI also has)."""
        return not self.entries[key]["file_name"].endswith("-none-any.whl")

    def installs_as_module(self, key: str) -> bool:
        """Whether the package installs Python modules into site-packages (a wheel the slim trace may prune),
        rather than a shared library or a standard library module."""
        entry = self.entries[key]
        return entry.get("install_dir") == "site" and entry["file_name"].endswith(".whl")


PYODIDE_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.7",
    "sys_platform": "emscripten",
    "platform_system": "Emscripten",
    "platform_machine": "wasm32",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
"""Environment markers as Pyodide 0.27 evaluates them (Python 3.12 on wasm32 Emscripten)."""


def wheel_dependencies(wheel: Path) -> list[str]:
    """The names a wheel requires in Pyodide (Requires-Dist whose markers hold there, no extras)."""
    from email.parser import Parser

    from packaging.requirements import Requirement as Spec

    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        headers = Parser().parsestr(archive.read(metadata).decode())
    names = []
    for line in headers.get_all("Requires-Dist") or []:
        spec = Spec(line)
        if spec.marker is None or spec.marker.evaluate(PYODIDE_MARKERS):
            names.append(spec.name)
    return names


def official_dependencies(
    wheels: list[Path], distribution: OfficialDistribution, shipped: set[str]
) -> list[Requirement]:
    """The compiled packages of Pyodide's distribution that the PyPI `wheels` require and the bundle does not
    ship yet (a pure-Python dependency is listed in `.requirements`, as for any PyPI package)."""
    needed: dict[str, Requirement] = {}
    for wheel in wheels:
        for name in wheel_dependencies(wheel):
            key = distribution.key(name)
            if key is None or not distribution.is_compiled(key):  # pure ones: listed by the researcher
                continue
            if canonicalize_name(name) not in shipped and key not in shipped:
                needed[key] = Requirement(key, None)
    return list(needed.values())
