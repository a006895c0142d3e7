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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

import gymcast
import gymcast_runtime
from gymcast.bundle_files import host_file
from gymcast.bundler.codes import STATIC_ONLY_WARNING, withhold_codes
from gymcast.bundler.compress import precompress
from gymcast.bundler.layout import HASH_CHARS, place_hashed
from gymcast.bundler.lock import bundle_lock
from gymcast.bundler.native_check import check_game_natively
from gymcast.bundler.pywheel import collect_python_sources, write_wheel
from gymcast.bundler.repack import stored_copy
from gymcast.bundler.slim import slim_archive, trace_bundle
from gymcast.contracts import bundle_contracts
from gymcast.experiment.errors import ConfigError
from gymcast.experiment.loader import LoadedExperiment, load_experiment
from gymcast.experiment.multiplayer import fallback_specs, policy_specs, with_fallbacks
from gymcast.wheels import Fetcher, Pins, load_pins
from gymcast.wheels.fetch import file_digest
from gymcast_runtime.pruned import SITE_ROOT, STDLIB_ROOT, STDLIB_UNPACK

MANIFEST_SCHEMA = 1
RUNTIME_DISTRIBUTION = "gymcast-runtime"
BUNDLE_MARKER = "manifest.json"
STDLIB_FILE = "python_stdlib.zip"
SERVICE_WORKER = "sw.js"  # at the bundle root, so its scope is the whole bundle


class BundleError(RuntimeError):
    """The bundle cannot be written where asked."""


@dataclass(frozen=True)
class BuiltBundle:
    """Where a bundle was written, its manifest, and what the researcher should know about it."""

    path: Path
    manifest: dict[str, Any]
    warnings: tuple[str, ...] = ()


def build_bundle(
    experiment_path: Path,
    out: Path,
    wheelhouse: Path | None = None,
    cache_dir: Path | None = None,
    console: Console | None = None,
    repack: bool = False,
    slim: bool = True,
) -> BuiltBundle:
    """Build the experiment at `experiment_path` into the folder `out`, replacing an earlier bundle there."""
    return build_loaded(load_experiment(experiment_path), out, wheelhouse, cache_dir, console, repack, slim)


def build_loaded(
    loaded: LoadedExperiment,
    out: Path,
    wheelhouse: Path | None = None,
    cache_dir: Path | None = None,
    console: Console | None = None,
    repack: bool = False,
    slim: bool = True,
) -> BuiltBundle:
    """Build an already loaded experiment (e.g. one adjusted in code) into `out`.

    With `slim` (the default), the standard library and third-party wheels ship only the modules a
    traced run imports, as bytecode (see `gymcast.bundler.slim`). With `repack`, wheels and the standard library zip ship stored (uncompressed inside), so the
    pre-compressed `.br` copy of each is smaller (see `gymcast.bundler.repack`); off by default, because
    the browser then has more bytes to decode and unpack (see bench/RESULTS.md).
    """
    console = console or Console(stderr=True)
    _check_output_folder(out)
    game = loaded.experiment.to_manifest()
    games = loaded.experiment.games()
    flow = loaded.experiment.flow_manifest()
    static_only = loaded.experiment.host_settings["static_only"]
    pins = load_pins()
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        steps = progress.add_task("build", total=6 if slim else 5)
        progress.update(steps, description="check the env natively")
        checked: dict[str, dict[str, Any]] = {}
        for config in games.values():
            key = json.dumps(config, sort_keys=True)
            if key not in checked:
                checked[key] = _checked_game(config, loaded.folder)
            config.update(copy.deepcopy(checked[key]))
        progress.update(steps, advance=1, description="fetch Pyodide and wheels")
        fetcher = Fetcher(pins, cache_dir=cache_dir, wheelhouse=wheelhouse, progress=progress)
        pyodide_package = fetcher.npm_package(pins.pyodide)
        pinned_wheels = {pin: fetcher.wheel(pin) for pin in pins.wheels}
        requirement_wheels = [fetcher.requirement(*spec.split("==")) for spec in game["requirements"]]
        needs_ort = any(spec["type"] == "onnx" for config in games.values() for spec in policy_specs(config))
        ort_package = fetcher.npm_package(pins.onnxruntime_web) if needs_ort else None
        needs_phaser = any(config["rendering"].get("objects_fn") for config in games.values())
        phaser_package = fetcher.npm_package(pins.phaser) if needs_phaser else None
        progress.update(steps, advance=1, description="pack the experiment and runtime")
        staging = out.with_name(out.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tempfile.TemporaryDirectory() as tmp:
            own_wheels = _own_wheels(game["name"], loaded, Path(tmp)) + requirement_wheels
            progress.update(steps, advance=1, description="write the bundle")
            for config in games.values():
                _place_policies(staging, config, loaded.folder)
                _place_assets(staging, config, loaded.folder)
            _place_pages(staging, flow, loaded.folder)
            finish = (lambda path: stored_copy(path, fetcher.cache_dir)) if repack else (lambda path: path)  # noqa: E731
            replaced: dict[Path, Path] = {}
            pruned: list[dict[str, Any]] = []
            if slim:
                progress.update(steps, advance=1, description="trace the game's imports in Pyodide")
                traced = _slimmed(
                    game,
                    games,
                    pins,
                    pyodide_package,
                    pinned_wheels,
                    own_wheels,
                    requirement_wheels,
                    Path(tmp),
                    fetcher.cache_dir,
                )
                for source, (slimmed, modules) in traced.items():
                    replaced[source] = slimmed
                    if not modules:
                        continue
                    full = place_hashed({source.name: source}, staging, "full") + source.name
                    pruned.append(
                        {
                            "url": full,
                            "unpack_to": STDLIB_UNPACK if source.suffix == ".zip" else SITE_ROOT,
                            "modules": modules,
                        }
                    )
            shipped = lambda path: finish(replaced.get(path, path))  # noqa: E731
            manifest = _write_bundle(
                staging, game, pins, pyodide_package, pinned_wheels, own_wheels, Path(tmp), shipped
            )
            manifest["pruned"] = pruned
            host_codes = {} if static_only else withhold_codes(flow, games, manifest["game"])
            manifest["games"] = games
            manifest["flow"] = flow
            manifest["contracts"] = bundle_contracts()
            if ort_package is not None:
                files = {name.rsplit("/", 1)[-1]: ort_package / name for name in pins.onnxruntime_web_files}
                manifest["ort"] = {
                    "base": place_hashed(files, staging, "ort"),
                    "module": pins.onnxruntime_web_module,
                    "version": pins.onnxruntime_web.version,
                }
            if phaser_package is not None:
                module = phaser_package / pins.phaser_module
                manifest["phaser"] = {
                    "module": place_hashed({module.name: module}, staging, "phaser") + module.name,
                    "version": pins.phaser.version,
                }
        progress.update(steps, advance=1, description="hash and compress files")
        manifest["files"] = _file_table(staging)
        manifest["build_id"] = _build_id(manifest)
        precompress(staging, manifest["files"], fetcher.cache_dir / "compressed")
        manifest["hosting"] = loaded.experiment.host_settings
        (staging / BUNDLE_MARKER).write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
        _write_host_file(out, manifest["build_id"], host_codes)
        progress.update(steps, advance=1, description="done")
    return BuiltBundle(out, manifest, (STATIC_ONLY_WARNING,) if static_only else ())


def _write_host_file(out: Path, build_id: str, codes: dict[str, Any]) -> None:
    """The host-only codes next to the bundle folder, readable by this user only (none: remove an old one)."""
    path = host_file(out)
    path.unlink(missing_ok=True)
    if codes.get("completion") or codes.get("timeouts"):
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"build_id": build_id, **codes}, handle, indent=1)


def _slimmed(
    game: dict[str, Any],
    games: dict[str, Any],
    pins: Pins,
    pyodide_package: Path,
    pinned_wheels: dict,
    own_wheels: list[Path],
    requirement_wheels: list[Path],
    tmp: Path,
    cache_dir: Path,
) -> dict[Path, tuple[Path, list[str]]]:
    """Trace a complete copy of the bundle, then slim the standard library and third-party wheels:
    `{source archive: (slimmed copy, modules left out)}`."""
    traced = tmp / "traced"
    manifest = _write_bundle(traced, game, pins, pyodide_package, pinned_wheels, own_wheels, tmp, lambda path: path)
    manifest.update(games=games, files=_file_table(traced))
    (traced / BUNDLE_MARKER).write_text(json.dumps(manifest))
    trace = trace_bundle(traced, cache_dir)
    sources = {pyodide_package / STDLIB_FILE: STDLIB_ROOT}
    sources.update({path: SITE_ROOT for path in [*pinned_wheels.values(), *requirement_wheels]})
    slimmed = {}
    for source, root in sources.items():
        archive = slim_archive(source, trace, root, cache_dir)
        slimmed[source] = (archive.path, archive.pruned_modules)
    return slimmed


def _checked_game(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """`config` after the native checks, with its frame shape and ONNX tensor names (fallbacks' included)."""
    model_path = lambda spec: folder / spec["model"]  # noqa: E731
    config["frame_shape"] = check_game_natively(config, model_path)["frame"]
    fallbacks = fallback_specs(config)
    if fallbacks:
        check_game_natively(with_fallbacks(config, list(fallbacks)), model_path)
    return config


def _check_output_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / BUNDLE_MARKER).is_file():
        raise BundleError(f"{out} exists and is not a gymcast bundle; choose an empty or new folder with -o")


def _own_wheels(name: str, loaded: LoadedExperiment, tmp: Path) -> list[Path]:
    runtime_folder = Path(gymcast_runtime.__file__).parent
    runtime_sources = {f"gymcast_runtime/{k}": v for k, v in collect_python_sources(runtime_folder).items()}
    experiment_sources: dict[str, Path] = {}
    for folder in loaded.code_folders():
        for module, path in collect_python_sources(folder, exclude=frozenset({loaded.file.name})).items():
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
) -> dict[str, Any]:
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
    return {
        "service_worker": SERVICE_WORKER,
        "schema": MANIFEST_SCHEMA,
        "gymcast_version": gymcast.__version__,
        "runtime": runtime_dir,
        "pyodide": {
            "version": pins.pyodide.version,
            "index_url": pyodide_dir,
            "lock_url": lock_dir + "pyodide-lock.json",
        },
        "packages": sorted(lock.packages),
        "experiment_package": experiment_distribution(game["name"]),
        "game": game,
    }


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


def _file_table(bundle: Path) -> dict[str, dict[str, Any]]:
    """`{relative path: {sha256, size}}` for every file written so far."""
    return {
        p.relative_to(bundle).as_posix(): {"sha256": file_digest(p), "size": p.stat().st_size}
        for p in sorted(bundle.rglob("*"))
        if p.is_file()
    }


def _build_id(manifest: dict[str, Any]) -> str:
    """A 16-hex-char id that changes whenever any shipped byte or the game config changes."""
    text = json.dumps(
        {"files": manifest["files"], "games": manifest["games"], "flow": manifest["flow"]}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]
