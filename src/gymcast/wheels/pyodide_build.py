"""A requirement with no pure-Python wheel, outside Pyodide's distribution, built with `pyodide build`.

`pyodide build` comes with the `pyodide-build` package and needs the Emscripten toolchain. When a `pyodide`
command is on PATH it builds the wheel from the package's source on PyPI; otherwise (or when it fails) the
build stops with an error naming the package and the command to run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from gymcast.progress import Progress

BUILD_DOCS = "https://pyodide.org/en/stable/development/building-packages.html"
BUILD_TIMEOUT_S = 3600


def build_command(name: str, version: str, outdir: str = "wheelhouse") -> list[str]:
    """The command that builds `name==version` for Pyodide into `outdir`."""
    return ["pyodide", "build", "--outdir", outdir, f"{name}=={version}"]


def how_to_build(name: str, version: str) -> str:
    """The fix for a requirement the browser cannot load: build it for Pyodide, then pass the wheelhouse."""
    return (
        f"build it for Pyodide with `pip install pyodide-build && {' '.join(build_command(name, version))}` (needs "
        f"the Emscripten toolchain, see {BUILD_DOCS}) and build with --wheelhouse wheelhouse"
    )


def pyodide_build(name: str, version: str, outdir: Path, progress: Progress) -> Path | str:
    """Build `name==version` with the `pyodide` command on PATH: the wheel, or why there is none ("" when there is
    no such command)."""
    command = shutil.which("pyodide")
    if command is None:
        return ""
    task = progress.task(f"pyodide build {name}=={version} (compiling for the browser, may take minutes)", None)
    try:
        result = subprocess.run(
            [command, *build_command(name, version, str(outdir))[1:]],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`pyodide build` failed to run: {error}"
    finally:
        task.complete()
    wheels = sorted(outdir.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        output = (result.stderr or result.stdout).strip()[-2000:]
        return f"`pyodide build` exited with status {result.returncode} and {len(wheels)} wheel(s):\n{output}"
    return wheels[0]
