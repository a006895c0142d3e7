"""Slim archives: ship only the Python a traced run imports, as Python 3.12 bytecode.

`gymcast build` plays each game briefly in Pyodide under Node (`browser_runtime/node/trace.mjs`),
which lists every module the run imported and compiles it. The standard library zip and each
third-party wheel then ship with just those modules (`.pyc` in place of `.py`) plus their
non-Python files, minus headers, stubs and Cython sources; a wheel's extension modules ship only if the run imported
them too (Pyodide would otherwise load and compile every one of them on every visit). A wheel's top-level modules and package
`__init__.py` files always ship as source, so the lock can still name what the wheel imports. The full archives ship too, under
`full/<hash>/`: if the browser ever imports a module left out, `gymcast_runtime.pruned` fetches the
full archive, unpacks what is missing and logs a `pruned_module` event.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from gymcast.experiment.errors import ConfigError, traceback_tail
from gymcast.manifest import read_manifest
from gymcast.wheels.fetch import file_digest
from gymcast_runtime.pruned import SITE_ROOT

#: Modules every bundle keeps though a short trace may not import them: error reporting and
#: what games commonly reach for later (their imports are followed too).
SAFETY_MODULES = (
    "traceback",
    "linecache",
    "tokenize",
    "warnings",
    "json",
    "base64",
    "pickle",
    "copy",
    "random",
    "dataclasses",
    "encodings.latin_1",
    "encodings.ascii",
    "encodings.utf_16",
    "encodings.idna",
    "numpy.random",
)
TRACE_STEPS = 300
PYTHON_TRACEBACK = "Traceback (most recent call last)"
SLIM_FORMAT = 3  # bump when slim_archive writes archives differently: cached copies then go stale
MIN_NODE_MAJOR = 18  # Pyodide 0.27's own requirement (package.json "engines"); tested on Node 20
NOT_SHIPPED = (".pyi", ".h", ".a", ".pxd", ".pyx", ".c")  # headers, stubs and sources nothing imports at run time
EXTENSION_SUFFIXES = (".cpython-312-wasm32-emscripten.so", ".abi3.so")
"""Python extension modules in Pyodide 0.27's wheels (a bare `.so` is a shared library, which ships whole)."""


#: the last line of a traceback whose import failed: the module asked for
MISSING_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([A-Za-z0-9_.]+)'$")


class MissingModule(ConfigError):
    """The trace failed because the game imports `module` (top-level name), which the bundle does not ship."""

    def __init__(self, module: str, *args: str) -> None:
        super().__init__(*args)
        self.module = module


class SlimError(RuntimeError):
    """The trace could not run."""


@dataclass(frozen=True)
class Trace:
    """What the traced run imported: `{sys.path root: [relative file paths]}`, and where its bytecode is."""

    used: dict[str, list[str]]
    bytecode: Path

    def kept(self, root: str) -> frozenset[str]:
        return frozenset(self.used.get(root, ()))


@dataclass
class SlimArchive:
    """A slimmed copy of an archive and the modules it left out."""

    path: Path
    pruned_modules: list[str] = field(default_factory=list)


def trace_bundle(bundle: Path, cache_dir: Path) -> Trace:
    """Run the trace over a complete (unslimmed) bundle; cached by everything the bundle holds."""
    manifest = read_manifest(bundle)
    kept_by_experiment = sorted({module for game in manifest.games.values() for module in game.get("keep_modules", [])})
    files = {path: asdict(entry) for path, entry in manifest.files.items()}
    key = hashlib.sha256(
        json.dumps([files, manifest.games, SAFETY_MODULES, TRACE_STEPS], sort_keys=True).encode()
    ).hexdigest()[:32]
    out = cache_dir / "traces" / key
    if not (out / "trace.json").is_file():
        node = node_executable()
        partial = out.with_name(key + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        script = resources.files("gymcast.browser_runtime").joinpath("node/trace.mjs")
        result = subprocess.run(
            [
                node,
                str(script),
                str(bundle),
                str(partial),
                str(TRACE_STEPS),
                json.dumps([*SAFETY_MODULES, *kept_by_experiment]),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0 and PYTHON_TRACEBACK in result.stderr:
            error = (
                "environment",
                f"the game raised an exception in Pyodide during the build's trace ({TRACE_STEPS} random steps of "
                f"each game, as the browser would play them): {_last_line(result.stderr)}",
                "fix the code at the end of the traceback below: it fails the same way in the browser "
                "(--no-slim skips the trace, not the error)",
                traceback_tail(result.stderr),
            )
            missing = MISSING_MODULE.match(_last_line(result.stderr))
            if missing:
                raise MissingModule(missing[1].split(".")[0], *error)
            raise ConfigError(*error)
        if result.returncode != 0:
            raise SlimError(
                f"tracing the game in Pyodide failed:\n{result.stderr[-4000:]}\n"
                "fix the error above (it also happens in the browser), or build with --no-slim"
            )
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    traced = json.loads((out / "trace.json").read_text())
    unimportable = [module for module in kept_by_experiment if module in traced["unimportable"]]
    if unimportable:
        raise SlimError(
            f"keep_modules: {', '.join(unimportable)} could not be imported in Pyodide. Fix: check the "
            "spelling, ship the package that holds it with .requirements(...), or drop it from .keep_modules()"
        )
    return Trace(traced["used"], out / "pyc")


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def node_executable() -> str:
    """The `node` on PATH, if it is recent enough to run Pyodide; SlimError says what to do otherwise."""
    node = shutil.which("node")
    if node is None:
        raise SlimError(
            f"Node.js {MIN_NODE_MAJOR}+ is needed to trace the bundle's imports: install it "
            "(scripts/setup.sh does) or build with --no-slim"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    major = version.removeprefix("v").split(".")[0]
    if not major.isdigit() or int(major) < MIN_NODE_MAJOR:
        raise SlimError(
            f"{node} is Node.js {version or '(no version printed)'}, too old to run Pyodide: the trace of "
            f"the bundle's imports needs Node.js {MIN_NODE_MAJOR}+. Install a newer Node.js "
            "(https://nodejs.org or your distribution's backports) or build with --no-slim"
        )
    return node


def slim_archive(source: Path, trace: Trace, root: str, cache_dir: Path) -> SlimArchive:
    """`source` (a wheel, or the standard library zip) with only the traced modules, compiled; cached."""
    kept = trace.kept(root)
    with zipfile.ZipFile(source) as archive:
        entries = archive.infolist()
        names = [entry.filename for entry in entries]
    pruned = sorted(module_name(name) for name in names if _left_out(name, root, kept))
    key = hashlib.sha256(
        json.dumps([SLIM_FORMAT, root, file_digest(source), sorted(kept & set(names))]).encode()
    ).hexdigest()[:32]
    target = cache_dir / "slim" / key / source.name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with (
            zipfile.ZipFile(source) as original,
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as slim,
        ):
            for entry in entries:
                name = entry.filename
                if name.endswith(NOT_SHIPPED) or (name.endswith(EXTENSION_SUFFIXES) and _left_out(name, root, kept)):
                    continue
                if name.endswith(".py"):
                    if root == SITE_ROOT and _names_the_import(name):
                        slim.writestr(_entry_like(entry, name), original.read(entry))  # so the lock sees the import
                    elif name in kept:
                        compiled = trace.bytecode / root.strip("/") / (name + "c")
                        slim.writestr(_entry_like(entry, name + "c"), compiled.read_bytes())
                    continue
                slim.writestr(_entry_like(entry, name), original.read(entry))
        partial.replace(target)
    return SlimArchive(target, pruned)


def _left_out(name: str, root: str, kept: frozenset[str]) -> bool:
    """Whether the archive's module file `name` stays out of the slim copy: a module the run did not import (a
    wheel's import names excepted: their source ships)."""
    if name in kept:
        return False
    if name.endswith(".py"):
        return not (root == SITE_ROOT and _names_the_import(name))
    return root == SITE_ROOT and name.endswith(EXTENSION_SUFFIXES)


def module_name(path: str) -> str:
    """`xml/dom/minidom.py` -> `xml.dom.minidom`; `xml/__init__.py` -> `xml`;
    `numpy/linalg/_umath_linalg.cpython-312-wasm32-emscripten.so` -> `numpy.linalg._umath_linalg`."""
    suffix = next((suffix for suffix in (".py", *EXTENSION_SUFFIXES) if path.endswith(suffix)), "")
    parts = path[: len(path) - len(suffix)].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _names_the_import(path: str) -> bool:
    """A wheel's top-level module or package `__init__.py`: where tools (pyodide-lock) read import names."""
    return "/" not in path or (path.count("/") == 1 and path.endswith("/__init__.py"))


def _entry_like(entry: zipfile.ZipInfo, name: str) -> zipfile.ZipInfo:
    copy = zipfile.ZipInfo(name, entry.date_time)
    copy.external_attr = entry.external_attr
    copy.compress_type = zipfile.ZIP_DEFLATED
    return copy
