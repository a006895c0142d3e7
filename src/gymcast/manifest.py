"""The bundle manifest (`manifest.json`): one typed definition, read and written only here.

The bundler writes it; the server, the relay, replay, export and the CLI read it with `read_manifest`.
Game configs (`game`, `games`) and the flow stay plain JSON dicts: the browser runtime reads them as
they are, and `gymcast.experiment` defines their fields.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gymcast.contracts import MANIFEST_SCHEMA

MANIFEST_FILE = "manifest.json"

GameConfig = dict[str, Any]
"""One game config as `gymcast.experiment` serializes it (env, players, rendering, gameplay, ...)."""


class ManifestError(ValueError):
    """A folder is not a bundle this gymcast can read; the message names the problem and the fix."""


@dataclass(frozen=True)
class FileEntry:
    """One file of the bundle: its sha256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class PyodideDist:
    """Where the bundle's Pyodide lives, relative to the bundle root."""

    version: str
    index_url: str
    lock_url: str


@dataclass(frozen=True)
class PrunedArchive:
    """A full archive a slim bundle ships for the modules its trace left out."""

    url: str
    unpack_to: str
    modules: list[str]


@dataclass(frozen=True)
class OrtRuntime:
    """onnxruntime-web, present when a game has an ONNX player: `base` folder, `module` inside it."""

    base: str
    module: str
    version: str


@dataclass(frozen=True)
class PhaserRuntime:
    """Phaser, present when a game draws objects: the module's bundle path."""

    module: str
    version: str


@dataclass(frozen=True)
class BundleManifest:
    """Everything the browser and the host need to know about a built bundle."""

    gymcast_version: str
    build_id: str
    runtime: str
    service_worker: str
    pyodide: PyodideDist
    packages: list[str]
    experiment_package: str
    game: GameConfig
    games: dict[str, GameConfig]
    flow: dict[str, Any]
    contracts: dict[str, int | list[str]]
    files: dict[str, FileEntry]
    hosting: dict[str, Any]
    pruned: list[PrunedArchive] = field(default_factory=list)
    ort: OrtRuntime | None = None
    phaser: PhaserRuntime | None = None
    schema: int = MANIFEST_SCHEMA

    @property
    def name(self) -> str:
        """The experiment's name."""
        return str(self.game["name"])

    def networked_games(self) -> dict[str, GameConfig]:
        """The game configs played by several people over the relay (the builder nulls `multiplayer` otherwise)."""
        return {key: game for key, game in self.games.items() if game.get("multiplayer")}

    def experiment_wheel(self) -> str:
        """The bundle path of the wheel that holds the experiment's own code."""
        prefix = self.experiment_package.replace("-", "_") + "-"
        for path in self.files:
            if path.endswith(".whl") and path.rsplit("/", 1)[-1].startswith(prefix):
                return path
        raise ManifestError(f"the manifest lists no wheel of {self.experiment_package}; rebuild the bundle")

    def to_json(self) -> dict[str, Any]:
        """The manifest as the JSON object `manifest.json` holds."""
        data = asdict(self)
        for optional in ("ort", "phaser"):
            if data[optional] is None:
                del data[optional]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BundleManifest:
        """Parse `manifest.json`'s object; raises ManifestError naming a missing or wrong field."""
        if not isinstance(data, dict):
            raise ManifestError("manifest.json does not hold a JSON object; rebuild the bundle with `gymcast build`")
        schema = data.get("schema")
        if schema != MANIFEST_SCHEMA:
            raise ManifestError(
                f"manifest.json has schema {schema!r}, this gymcast reads schema {MANIFEST_SCHEMA}; "
                "rebuild the bundle with this gymcast's `gymcast build`"
            )
        try:
            return cls(
                gymcast_version=data["gymcast_version"],
                build_id=data["build_id"],
                runtime=data["runtime"],
                service_worker=data["service_worker"],
                pyodide=PyodideDist(**data["pyodide"]),
                packages=list(data["packages"]),
                experiment_package=data["experiment_package"],
                game=data["game"],
                games=data["games"],
                flow=data["flow"],
                contracts=data["contracts"],
                files={path: FileEntry(**entry) for path, entry in data["files"].items()},
                hosting=data.get("hosting", {}),
                pruned=[PrunedArchive(**entry) for entry in data.get("pruned", [])],
                ort=OrtRuntime(**data["ort"]) if data.get("ort") else None,
                phaser=PhaserRuntime(**data["phaser"]) if data.get("phaser") else None,
            )
        except (KeyError, TypeError) as error:
            raise ManifestError(
                f"manifest.json is missing or has a malformed field ({error}); rebuild the bundle with `gymcast build`"
            ) from None


def is_bundle(folder: Path) -> bool:
    """Whether `folder` holds a manifest (it may still be unreadable: see `read_manifest`)."""
    return (folder / MANIFEST_FILE).is_file()


def read_manifest(bundle: Path) -> BundleManifest:
    """The manifest of the bundle folder `bundle`; raises ManifestError when it is not a readable bundle."""
    path = bundle / MANIFEST_FILE
    if not path.is_file():
        raise ManifestError(f"{bundle} is not a gymcast bundle (no {MANIFEST_FILE}); build one with `gymcast build`")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path} cannot be read ({error}); rebuild the bundle with `gymcast build`") from None
    return BundleManifest.from_json(data)


def write_manifest(bundle: Path, manifest: BundleManifest) -> None:
    """Write `manifest` as the bundle folder's `manifest.json`."""
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest.to_json(), indent=1))
