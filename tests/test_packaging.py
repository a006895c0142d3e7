"""A plain (non-editable) install works: the wheel installs into a clean virtualenv outside the repository,
and from a folder outside the repository `gymcast` starts, every module imports, and an example builds and serves."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from gymcast.testing import free_port

REPO = Path(__file__).resolve().parents[1]


def run(*argv: str | Path, cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{argv} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def every_module(src: Path) -> list[str]:
    """Every module and package under src/ (gymcast and gymcast_runtime), by dotted name."""
    names = []
    for package in ("gymcast", "gymcast_runtime"):
        names.append(package)
        for info in pkgutil.walk_packages([str(src / package)], prefix=f"{package}."):
            names.append(info.name)
    return sorted(names)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A clean virtualenv outside the repository with gymcast installed from its wheel (no -e)."""
    root = tmp_path_factory.mktemp("plain-install")
    source = root / "source"  # a clean copy: setuptools would reuse a stale build/ folder of the checkout
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", root / "dist", source, cwd=root)
    wheels = list((root / "dist").glob("gymcast-*.whl"))
    assert len(wheels) == 1, wheels
    venv = root / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=root)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheels[0], cwd=root)
    return venv


def test_the_installed_command_starts_outside_the_repository(installed, tmp_path):
    out = run(installed / "bin" / "gymcast", "--version", cwd=tmp_path)
    assert "version" in out


def test_every_module_of_the_package_imports_from_the_installed_wheel(installed, tmp_path):
    modules = every_module(REPO / "src")
    assert "gymcast.cli" in modules and "gymcast.export" in modules and "gymcast_runtime.session" in modules
    script = (
        "import importlib, sys, gymcast\n"
        f"assert 'site-packages' in gymcast.__file__, gymcast.__file__\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('imported', len(sys.modules))\n"
    )
    assert "imported" in run(installed / "bin" / "python", "-c", script, cwd=tmp_path)


def test_the_installed_package_ships_the_browser_runtime_files(installed, tmp_path):
    script = (
        "from importlib import resources\n"
        "root = resources.files('gymcast.browser_runtime')\n"
        "print(sorted(p.name for p in root.joinpath('js').iterdir()))\n"
        "print(root.joinpath('node/trace.mjs').is_file(), root.joinpath('index.html').is_file(),"
        " root.joinpath('sw.js').is_file(), resources.files('gymcast.wheels').joinpath('pins.toml').is_file())\n"
    )
    listed, flags = run(installed / "bin" / "python", "-c", script, cwd=tmp_path).splitlines()
    shipped = {p.name for p in (REPO / "src/gymcast/browser_runtime/js").iterdir()}
    assert sorted(shipped) == eval(listed)
    assert flags == "True True True True"


def test_the_installed_package_builds_and_serves_the_cartpole_example(installed, tmp_path):
    example = tmp_path / "cartpole"
    shutil.copytree(REPO / "examples" / "cartpole", example, ignore=shutil.ignore_patterns("__pycache__"))
    gymcast = installed / "bin" / "gymcast"
    run(gymcast, "build", example, "-o", tmp_path / "bundle", cwd=tmp_path, timeout=900)
    port = free_port()
    env = {**os.environ, "PATH": f"{installed / 'bin'}:{os.environ['PATH']}"}
    server = subprocess.Popen(
        [gymcast, "serve", tmp_path / "bundle", "--port", str(port), "--data", tmp_path / "logs.sqlite"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "gymcast serve did not answer in 30 s"
                time.sleep(0.2)
        assert "<html" in page.lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/manifest.json", timeout=5) as response:
            assert b'"build_id"' in response.read()
    finally:
        server.terminate()
        server.wait(timeout=10)
