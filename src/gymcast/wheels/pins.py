"""Reads `pins.toml`: the pinned file names, versions and hashes of every bundle input."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Literal


@dataclass(frozen=True)
class PinnedFile:
    """One wheel with the only sha256 it may have.

    `origin` is "pyodide" for an official Pyodide build and "pypi" for a pure-Python wheel.
    """

    name: str
    version: str
    file: str
    sha256: str
    origin: Literal["pyodide", "pypi"]


@dataclass(frozen=True)
class NpmPackagePin:
    """An npm tarball pinned by its registry integrity string (`sha512-<base64>`)."""

    package: str
    version: str
    tarball: str
    integrity: str


@dataclass(frozen=True)
class Pins:
    """Everything `pins.toml` pins."""

    pyodide: NpmPackagePin
    pyodide_core_files: tuple[str, ...]
    pyodide_cdn_url: str
    registry_copy: PinnedFile
    registry_copy_folder: str
    wheels: tuple[PinnedFile, ...]
    onnxruntime_web: NpmPackagePin
    onnxruntime_web_files: tuple[str, ...]
    onnxruntime_web_module: str
    phaser: NpmPackagePin
    phaser_module: str  # the ES module's path inside the package

    def wheel(self, name: str) -> PinnedFile:
        """The pinned wheel called `name`; KeyError names the pinned ones otherwise."""
        for pin in self.wheels:
            if pin.name == name:
                return pin
        raise KeyError(f"no pinned wheel named {name!r}; pinned: {', '.join(p.name for p in self.wheels)}")


def load_pins() -> Pins:
    """Parse the `pins.toml` shipped with this package."""
    text = resources.files("gymcast.wheels").joinpath("pins.toml").read_text()
    data = tomllib.loads(text)
    core = data["pyodide"]
    copy = core["registry_copy"]
    ort = data["onnxruntime_web"]
    phaser = data["phaser"]
    wheels = [PinnedFile(w["name"], w["version"], w["file"], w["sha256"], "pyodide") for w in data["pyodide_wheels"]]
    wheels += [PinnedFile(w["name"], w["version"], w["file"], w["sha256"], "pypi") for w in data["pypi_wheels"]]
    return Pins(
        pyodide=NpmPackagePin(core["npm_package"], core["version"], core["tarball"], core["integrity"]),
        pyodide_core_files=tuple(core["core_files"]),
        pyodide_cdn_url=core["cdn_url"],
        registry_copy=PinnedFile(copy["package"], copy["version"], copy["file"], copy["sha256"], "pypi"),
        registry_copy_folder=copy["folder"],
        wheels=tuple(wheels),
        onnxruntime_web=NpmPackagePin(ort["npm_package"], ort["version"], ort["tarball"], ort["integrity"]),
        onnxruntime_web_files=tuple(ort["files"]),
        onnxruntime_web_module=ort["module"],
        phaser=NpmPackagePin(phaser["npm_package"], phaser["version"], phaser["tarball"], phaser["integrity"]),
        phaser_module=phaser["module"],
    )
