"""`gymcast build`: turns an experiment into a self-contained static bundle.

Layout (every folder named by a content hash is immutable):

    index.html, manifest.json      the boot page and the experiment config (revalidated on each visit)
    runtime/<hash>/                the browser runtime's ES modules
    pyodide/<hash>/                Pyodide core files from npm
    packages/<hash>/<file>.whl     one folder per wheel
    packages/<hash>/pyodide-lock.json
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

import gymcast
import gymcast_runtime
from gymcast.bundle_files import host_file
from gymcast.bundler.codes import STATIC_ONLY_WARNING, withhold_codes
from gymcast.bundler.compress import precompress
from gymcast.bundler.layout import HASH_CHARS, place_hashed
from gymcast.bundler.lock import bundle_lock
from gymcast.bundler.native_check import check_game_natively
from gymcast.bundler.patches import patched_wheel
from gymcast.bundler.pywheel import collect_python_sources, write_wheel
from gymcast.bundler.repack import stored_copy
from gymcast.bundler.slim import MissingModule, slim_archive, trace_bundle
from gymcast.contracts import bundle_contracts
from gymcast.experiment.errors import ConfigError
from gymcast.experiment.loader import LoadedExperiment, load_experiment
from gymcast.manifest import (
    MANIFEST_FILE,
    BundleManifest,
    FileEntry,
    GameConfig,
    OrtRuntime,
    PhaserRuntime,
    PrunedArchive,
    PyodideDist,
    write_manifest,
)
from gymcast.progress import SILENT, Progress, Stages
from gymcast.wheels import Fetcher, Pins, load_pins
from gymcast.wheels.fetch import FetchError, file_digest
from gymcast.wheels.official import OfficialDistribution, Requirement, official_dependencies
from gymcast.wheels.pins import PinnedFile
from gymcast_runtime.configs import fallback_specs, policy_specs, with_fallbacks
from gymcast_runtime.pruned import SITE_ROOT, STDLIB_ROOT, STDLIB_UNPACK

RUNTIME_DISTRIBUTION = "gymcast-runtime"
STDLIB_FILE = "python_stdlib.zip"
PYGAME = "pygame-ce"  # Pyodide's build of pygame, shipped when an env needs pygame
SERVICE_WORKER = "sw.js"  # at the bundle root, so its scope is the whole bundle


class BundleError(RuntimeError):
    """The bundle cannot be written where asked."""


@dataclass(frozen=True)
class BuiltBundle:
    """Where a bundle was written, its manifest, and what the researcher should know about it."""

    path: Path
    manifest: BundleManifest
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Written:
    """What `_write_bundle` placed: the runtime folder, Pyodide, and the packages its lock names."""

    runtime: str
    pyodide: PyodideDist
    packages: list[str]


@dataclass(frozen=True)
class _Sources:
    """What a build ships besides the experiment: Pyodide, wheels and the optional JS runtimes (npm folders)."""

    pyodide: Path
    pinned_wheels: dict[PinnedFile, Path]
    requirement_wheels: list[Path]
    ort: Path | None
    phaser: Path | None


def build_bundle(
    experiment_path: Path,
    out: Path,
    wheelhouse: Path | None = None,
    cache_dir: Path | None = None,
    progress: Progress = SILENT,
    repack: bool = False,
    slim: bool = True,
) -> BuiltBundle:
    """Build the experiment at `experiment_path` into the folder `out`, replacing an earlier bundle there."""
    return build_loaded(load_experiment(experiment_path), out, wheelhouse, cache_dir, progress, repack, slim)


def build_loaded(
    loaded: LoadedExperiment,
    out: Path,
    wheelhouse: Path | None = None,
    cache_dir: Path | None = None,
    progress: Progress = SILENT,
    repack: bool = False,
    slim: bool = True,
) -> BuiltBundle:
    """Build an already loaded experiment (e.g. one adjusted in code) into `out`; `progress` hears each stage.

    With `slim` (the default), the standard library and third-party wheels ship only the modules a
    traced run imports, as bytecode (see `gymcast.bundler.slim`). With `repack`, wheels and the standard
    library zip ship stored (uncompressed inside), so the pre-compressed `.br` copy of each is smaller
    (see `gymcast.bundler.repack`); off by default, because the browser then has more bytes to decode and
    unpack (see bench/RESULTS.md).
    """
    _check_output_folder(out)
    game = loaded.experiment.to_manifest()
    games = loaded.experiment.games()
    flow = loaded.experiment.flow_manifest()
    static_only = loaded.experiment.host_settings["static_only"]
    pins = load_pins()
    stages = Stages(progress, total=6 if slim else 5)
    stages.next("check the env natively")
    _check_games(games, loaded.folder)
    stages.next("fetch Pyodide and wheels")
    fetcher = Fetcher(pins, cache_dir=cache_dir, wheelhouse=wheelhouse, progress=progress)
    sources = _fetch_sources(fetcher, pins, game, games)
    stages.next("pack the experiment and runtime")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        own_wheels = _own_wheels(game["name"], loaded, Path(tmp)) + sources.requirement_wheels
        stages.next("write the bundle")
        for config in games.values():
            _place_policies(staging, config, loaded.folder)
            _place_assets(staging, config, loaded.folder)
        _place_pages(staging, flow, loaded.folder)
        replaced: dict[Path, Path] = {}
        pruned: list[PrunedArchive] = []
        if slim:
            stages.next("trace the game's imports in Pyodide")
            traced, sources = _traced(game, games, pins, fetcher, sources, own_wheels, Path(tmp))
            for source, (slimmed, modules) in traced.items():
                replaced[source] = slimmed
                if modules:
                    full = place_hashed({source.name: source}, staging, "full") + source.name
                    unpack_to = STDLIB_UNPACK if source.suffix == ".zip" else SITE_ROOT
                    pruned.append(PrunedArchive(url=full, unpack_to=unpack_to, modules=modules))

        def shipped(path: Path) -> Path:
            path = replaced.get(path, path)
            return stored_copy(path, fetcher.cache_dir) if repack else path

        written = _write_bundle(
            staging, game, pins, sources.pyodide, sources.pinned_wheels, own_wheels, Path(tmp), shipped
        )
        ort = _place_ort(staging, pins, sources.ort)
        phaser = _place_phaser(staging, pins, sources.phaser)
    host_codes = {} if static_only else withhold_codes(flow, games, game)
    stages.next("hash and compress files")
    manifest = _manifest(written, staging, game, games, flow, loaded.experiment.host_settings, pruned, ort, phaser)
    precompress(
        staging, {path: asdict(entry) for path, entry in manifest.files.items()}, fetcher.cache_dir / "compressed"
    )
    write_manifest(staging, manifest)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    _write_host_file(out, manifest.build_id, host_codes)
    stages.done()
    return BuiltBundle(out, manifest, (STATIC_ONLY_WARNING,) if static_only else ())


def _write_host_file(out: Path, build_id: str, codes: dict[str, Any]) -> None:
    """The host-only codes next to the bundle folder, readable by this user only (none: remove an old one)."""
    path = host_file(out)
    path.unlink(missing_ok=True)
    if codes.get("completion") or codes.get("timeouts") or codes.get("error"):
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"build_id": build_id, **codes}, handle, indent=1)


def _check_games(games: dict[str, GameConfig], folder: Path) -> None:
    """Run the native checks once per distinct config, and record what they found in every config."""
    checked: dict[str, GameConfig] = {}
    for config in games.values():
        key = json.dumps(config, sort_keys=True)
        if key not in checked:
            checked[key] = _checked_game(config, folder)
        config.update(copy.deepcopy(checked[key]))


def _fetch_sources(
    fetcher: Fetcher, pins: Pins, game: GameConfig, games: dict[str, GameConfig], needed: tuple[str, ...] = ()
) -> _Sources:
    """Fetch (or take from the cache) everything the bundle ships that the experiment does not provide.

    Requirements that name a package of Pyodide's own distribution ship its official build, with the
    dependencies its lock lists; so do the official packages that the PyPI requirements depend on,
    pygame-ce when a game's frames come from a pygame renderer, and the official packages `needed` (found
    missing by the trace, see `_traced`).
    """
    needs_ort = any(spec["type"] == "onnx" for config in games.values() for spec in policy_specs(config))
    needs_phaser = any(config["rendering"].get("objects_fn") for config in games.values())
    pyodide = fetcher.npm_package(pins.pyodide)
    official = OfficialDistribution(pyodide / "pyodide-lock.json")
    requirements = [Requirement.parse(spec) for spec in game["requirements"]]
    wanted = [PYGAME] if any(config.get("needs_pygame") for config in games.values()) else []
    for key in [*wanted, *needed]:
        if not any(official.key(requirement.name) == key for requirement in requirements):
            requirements.append(Requirement(key, None))

    def from_distribution(requirement: Requirement) -> bool:
        """Compiled packages come from Pyodide's distribution; a pinned pure one may come from PyPI as before."""
        key = official.key(requirement.name)
        return key is not None and (requirement.version is None or official.is_compiled(key))

    from_pypi = [requirement for requirement in requirements if not from_distribution(requirement)]
    requirement_wheels = [fetcher.requirement(requirement.name, requirement.version) for requirement in from_pypi]
    shipped: set[str] = {canonicalize_name(pin.name) for pin in pins.wheels}
    shipped |= {canonicalize_name(requirement.name) for requirement in from_pypi}
    from_pyodide = [requirement for requirement in requirements if from_distribution(requirement)]
    from_pyodide += official_dependencies(requirement_wheels, official, shipped)
    official_pins = official.resolve(from_pyodide, shipped)
    return _Sources(
        pyodide=pyodide,
        pinned_wheels={
            pin: patched_wheel(fetcher.wheel(pin), pin, fetcher.cache_dir) for pin in [*pins.wheels, *official_pins]
        },
        requirement_wheels=requirement_wheels,
        ort=fetcher.npm_package(pins.onnxruntime_web) if needs_ort else None,
        phaser=fetcher.npm_package(pins.phaser) if needs_phaser else None,
    )


def _place_ort(bundle: Path, pins: Pins, package: Path | None) -> OrtRuntime | None:
    if package is None:
        return None
    files = {name.rsplit("/", 1)[-1]: package / name for name in pins.onnxruntime_web_files}
    base = place_hashed(files, bundle, "ort")
    return OrtRuntime(base=base, module=pins.onnxruntime_web_module, version=pins.onnxruntime_web.version)


def _place_phaser(bundle: Path, pins: Pins, package: Path | None) -> PhaserRuntime | None:
    if package is None:
        return None
    module = package / pins.phaser_module
    return PhaserRuntime(
        module=place_hashed({module.name: module}, bundle, "phaser") + module.name, version=pins.phaser.version
    )


def _manifest(
    written: _Written,
    bundle: Path,
    game: GameConfig,
    games: dict[str, GameConfig],
    flow: dict[str, Any],
    hosting: dict[str, Any],
    pruned: list[PrunedArchive],
    ort: OrtRuntime | None,
    phaser: PhaserRuntime | None,
) -> BundleManifest:
    """The manifest of the files written to `bundle` so far: the one place a manifest is made."""
    files = _file_table(bundle)
    return BundleManifest(
        gymcast_version=gymcast.__version__,
        build_id=_build_id(files, games, flow),
        runtime=written.runtime,
        service_worker=SERVICE_WORKER,
        pyodide=written.pyodide,
        packages=written.packages,
        experiment_package=experiment_distribution(game["name"]),
        game=game,
        games=games,
        flow=flow,
        contracts=bundle_contracts(),
        files=files,
        hosting=hosting,
        pruned=pruned,
        ort=ort,
        phaser=phaser,
    )


def _slimmed(
    game: GameConfig,
    games: dict[str, GameConfig],
    pins: Pins,
    sources: _Sources,
    own_wheels: list[Path],
    tmp: Path,
    cache_dir: Path,
) -> dict[Path, tuple[Path, list[str]]]:
    """Trace a complete copy of the bundle, then slim the standard library and third-party wheels:
    `{source archive: (slimmed copy, modules left out)}`."""
    traced = tmp / "traced"
    written = _write_bundle(traced, game, pins, sources.pyodide, sources.pinned_wheels, own_wheels, tmp, lambda p: p)
    write_manifest(traced, _manifest(written, traced, game, games, {}, {}, [], None, None))
    trace = trace_bundle(traced, cache_dir)
    archives = {sources.pyodide / STDLIB_FILE: STDLIB_ROOT}
    wheels = [*sources.pinned_wheels.values(), *sources.requirement_wheels]
    archives.update({path: SITE_ROOT for path in wheels if path.suffix == ".whl"})  # shared libraries ship whole
    slimmed = {}
    for source, root in archives.items():
        archive = slim_archive(source, trace, root, cache_dir)
        slimmed[source] = (archive.path, archive.pruned_modules)
    return slimmed


def _traced(
    game: GameConfig,
    games: dict[str, GameConfig],
    pins: Pins,
    fetcher: Fetcher,
    sources: _Sources,
    own_wheels: list[Path],
    tmp: Path,
) -> tuple[dict[Path, tuple[Path, list[str]]], _Sources]:
    """`_slimmed`, and the sources it needed: when the trace fails because the game imports a module that an
    official Pyodide package provides (an env module's top-level `import pygame`: pygame-ce), that package is
    fetched and the trace runs again. An optional import (`try: import pygame`) never fails, so adds nothing."""
    needed: tuple[str, ...] = ()
    while True:
        try:
            return _slimmed(game, games, pins, sources, own_wheels, tmp, fetcher.cache_dir), sources
        except MissingModule as missing:
            official = OfficialDistribution(sources.pyodide / "pyodide-lock.json")
            key = official.provider(missing.module)
            if key is None or key in needed:
                raise
            needed += (key,)
            try:
                sources = _fetch_sources(fetcher, pins, game, games, needed)
            except FetchError as error:
                raise ConfigError(
                    "requirements",
                    f"the game imports {missing.module} (the build's trace in Pyodide stopped at that import), so "
                    f"the bundle needs Pyodide's {key} {official.entries[key]['version']}, which could not be "
                    f"fetched: {str(error).rstrip('.')}",
                    f"let this machine reach the Pyodide CDN, or pass --wheelhouse with "
                    f"{official.entries[key]['file_name']} in it",
                ) from error


def _checked_game(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """`config` after the native checks, with its frame shape and ONNX tensor names (fallbacks' included)."""
    model_path = lambda spec: folder / spec["model"]  # noqa: E731
    checked = check_game_natively(config, model_path)
    config["frame_shape"] = checked["frame"]
    config["needs_pygame"] = checked["needs_pygame"]
    fallbacks = fallback_specs(config)
    if fallbacks:
        check_game_natively(with_fallbacks(config, list(fallbacks)), model_path)
    return config


def _check_output_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST_FILE).is_file():
        raise BundleError(f"{out} exists and is not a gymcast bundle; choose an empty or new folder with -o")


def _own_wheels(name: str, loaded: LoadedExperiment, tmp: Path) -> list[Path]:
    """The runtime's wheel (with an inert `gymcast` for experiment.py to import) and the experiment's own code,
    experiment.py included, so functions and classes defined in it import in the browser."""
    runtime_folder = Path(gymcast_runtime.__file__).parent
    runtime_sources = {f"gymcast_runtime/{k}": v for k, v in collect_python_sources(runtime_folder).items()}
    runtime_sources["gymcast/__init__.py"] = runtime_folder / "authoring_stub.py"
    experiment_sources: dict[str, Path] = {}
    for folder in loaded.code_folders():
        # a .code() folder's own experiment file of the same name describes another study: the loaded one ships
        exclude = frozenset() if folder == loaded.folder else frozenset({loaded.file.name})
        for module, path in collect_python_sources(folder, exclude=exclude).items():
            if module in experiment_sources and experiment_sources[module] != path:
                raise BundleError(
                    f"{module} exists in two code folders ({experiment_sources[module]} and {path}); rename one"
                )
            experiment_sources[module] = path
    return [
        write_wheel(RUNTIME_DISTRIBUTION, gymcast.__version__, runtime_sources, tmp / "wheels"),
        write_wheel(experiment_distribution(name), "0.0.0", experiment_sources, tmp / "wheels"),
    ]


def _place_policies(bundle: Path, game: dict[str, Any], experiment_folder: Path) -> None:
    """Copy each ONNX model into `policies/<hash>/` and point its player at the bundle path."""
    for player in policy_specs(game):
        if player["type"] == "onnx":
            source = experiment_folder / player["model"]
            player["model"] = place_hashed({source.name: source}, bundle, "policies") + source.name


def _place_assets(bundle: Path, game: dict[str, Any], experiment_folder: Path) -> None:
    """Copy each rendering asset (and its atlas) into `assets/<hash>/` and give it bundle URLs."""
    for name, spec in game["rendering"].get("assets", {}).items():
        for key in ("file", "atlas"):
            if key not in spec:
                continue
            source = experiment_folder / spec[key]
            if not source.is_file():
                raise ConfigError(
                    f"rendering.assets[{name!r}].{key}",
                    f"{source} does not exist",
                    "give the file's path relative to the experiment folder",
                )
            spec[f"{key}_url"] = place_hashed({source.name: source}, bundle, "assets") + source.name


def _place_pages(bundle: Path, flow: dict[str, Any], experiment_folder: Path) -> None:
    """Copy each scene's HTML file into `pages/<hash>/` and point the scene at the bundle path."""
    for index, scene in enumerate(flow["scenes"]):
        if "html" in scene:
            source = experiment_folder / scene["html"]
            if not source.is_file():
                raise ConfigError(
                    f"flow[{index}].html",
                    f"{source} does not exist",
                    "give the HTML file's path relative to the experiment folder",
                )
            scene["html"] = place_hashed({source.name: source}, bundle, "pages") + source.name


def experiment_distribution(name: str) -> str:
    """The distribution name of an experiment's own code inside the bundle."""
    return f"gymcast-experiment-{name.replace('_', '-')}"


def _write_bundle(
    bundle: Path,
    game: dict[str, Any],
    pins: Pins,
    pyodide_package: Path,
    pinned_wheels: dict,
    own_wheels: list[Path],
    tmp: Path,
    shipped: Callable[[Path], Path],
) -> _Written:
    """Place Pyodide, the wheels (each as `shipped(path)` gives it) and the runtime; write the lock and index.html."""
    core = {
        f: shipped(pyodide_package / f) if f.endswith(".zip") else pyodide_package / f for f in pins.pyodide_core_files
    }
    pyodide_dir = place_hashed(core, bundle, "pyodide")
    to_index = "../../"  # from pyodide/<hash>/ back to the bundle root
    official: dict = {}
    others: list[Path] = []
    for pin, path in pinned_wheels.items():
        path = shipped(path)
        folder = place_hashed({pin.file: path}, bundle, "packages")
        if pin.origin == "pyodide":
            official[pin] = (to_index + folder + pin.file, file_digest(path))
        else:
            others.append(bundle / folder / pin.file)
    for path in own_wheels:
        others.append(bundle / place_hashed({path.name: shipped(path)}, bundle, "packages") / path.name)
    lock = bundle_lock(
        pyodide_package / "pyodide-lock.json", official, others, bundle / "packages", to_index + "packages/"
    )
    lock_path = tmp / "pyodide-lock.json"
    lock.to_json(lock_path, indent=1)
    lock_dir = place_hashed({"pyodide-lock.json": lock_path}, bundle, "packages")
    runtime_dir = place_hashed(_runtime_files(tmp), bundle, "runtime")
    (bundle / "index.html").write_text(_index_html(game["name"], runtime_dir))
    (bundle / SERVICE_WORKER).write_bytes(
        resources.files("gymcast.browser_runtime").joinpath(SERVICE_WORKER).read_bytes()
    )
    pyodide = PyodideDist(version=pins.pyodide.version, index_url=pyodide_dir, lock_url=lock_dir + "pyodide-lock.json")
    return _Written(runtime=runtime_dir, pyodide=pyodide, packages=sorted(lock.packages))


def _runtime_files(tmp: Path) -> dict[str, Path]:
    source = resources.files("gymcast.browser_runtime").joinpath("js")
    files = {}
    for entry in source.iterdir():
        if entry.name.endswith((".js", ".css")):
            copy = tmp / "runtime" / entry.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(entry.read_bytes())
            files[entry.name] = copy
    return files


def _index_html(title: str, runtime_dir: str) -> str:
    template = resources.files("gymcast.browser_runtime").joinpath("index.html").read_text()
    return template.replace("{{TITLE}}", html.escape(title)).replace("{{RUNTIME}}", runtime_dir)


def _file_table(bundle: Path) -> dict[str, FileEntry]:
    """`{relative path: entry}` for every file written so far."""
    return {
        p.relative_to(bundle).as_posix(): FileEntry(sha256=file_digest(p), size=p.stat().st_size)
        for p in sorted(bundle.rglob("*"))
        if p.is_file()
    }


def _build_id(files: dict[str, FileEntry], games: dict[str, GameConfig], flow: dict[str, Any]) -> str:
    """A 16-hex-char id that changes whenever any shipped byte or the game config changes."""
    table = {path: asdict(entry) for path, entry in files.items()}
    text = json.dumps({"files": table, "games": games, "flow": flow}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]
