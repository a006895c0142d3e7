"""Envs drawn by gymnasium's own pygame renderer get Pyodide's pygame-ce; the MountainCar example plays where
pygame-ce can be fetched, and the test says why it was skipped where it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import open_player, wait_for
from gymcast.bundler.native_check import check_game_natively
from gymcast.experiment.loader import load_experiment
from gymcast.testing import HostProcess
from gymcast.wheels import FetchError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def checked(folder: Path) -> dict:
    game = load_experiment(folder).experiment.games()
    (config,) = game.values()
    return check_game_natively(config)


def test_a_game_drawn_by_gymnasium_s_pygame_renderer_needs_pygame():
    assert checked(EXAMPLES / "mountain_car")["needs_pygame"] is True


def test_a_game_with_its_own_frame_function_does_not():
    assert checked(EXAMPLES / "cartpole")["needs_pygame"] is False  # CartPole's render() uses pygame; frame_fn doesn't


def test_mountain_car_plays_with_the_shipped_pygame_ce(browser, tmp_path):
    from gymcast.bundler.bundle import build_bundle

    try:
        bundle = build_bundle(EXAMPLES / "mountain_car", tmp_path / "bundle").path
    except FetchError as error:
        pytest.skip(f"pygame-ce for Pyodide cannot be fetched on this machine (no CDN, no wheelhouse): {error}")
    manifest_packages = (bundle / "manifest.json").read_text()
    assert '"pygame-ce"' in manifest_packages
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        page = open_player(browser, host.url, "driver")
        page.keyboard.down("ArrowRight")
        page.click("#start")
        status = wait_for(page, "s.frames_drawn > 20")
        assert status["phase"] != "error", status
        page.context.close()


def test_an_env_module_that_imports_pygame_at_its_top_gets_pygame_ce(tmp_path):
    """The build's trace in Pyodide (under Node) stops at the import, so the build fetches pygame-ce and traces
    again; where it cannot be fetched, the build says that the game needs it and why it could not come."""
    from gymcast.bundler.bundle import build_bundle
    from gymcast.experiment.errors import ConfigError

    fixture = Path(__file__).resolve().parent / "fixtures" / "experiments" / "pygame_import"
    assert checked(fixture)["needs_pygame"] is False  # its frames do not come from a pygame renderer
    try:
        bundle = build_bundle(fixture, tmp_path / "bundle").path
    except ConfigError as error:
        message = str(error)
        assert message.startswith("requirements: the game imports pygame (the build's trace in Pyodide"), message
        assert "needs Pyodide's pygame-ce 2.4.1, which could not be fetched: " in message
        assert "pygame_ce-2.4.1-cp312-cp312-pyodide_2024_0_wasm32.whl" in message
        pytest.skip(f"pygame-ce for Pyodide cannot be fetched on this machine (no CDN, no wheelhouse): {message}")
    assert '"pygame-ce"' in (bundle / "manifest.json").read_text()
