"""Two Chromium pages on two `gymcast serve` processes that share one Redis and one PostgreSQL, behind a load
balancer: they meet and play a full episode in lockstep; then one process is SIGKILLed mid-episode."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from balancer import Balancer
from conftest import HostProcess, build_capped, events_of, fresh_data, open_player, wait_for
from gymcast.storage import open_store

DUO = Path(__file__).parent / "fixtures" / "experiments" / "duo"
STEPS = 600  # 10 s at 60 fps per episode


@pytest.fixture
def database(request, tmp_path) -> str:
    """A fresh PostgreSQL database, the one both host processes log to."""
    return str(fresh_data(SimpleNamespace(param="postgresql", getfixturevalue=request.getfixturevalue), tmp_path))


@contextmanager
def two_hosts_behind_a_balancer(bundle: Path, database: str, redis_url: str):
    """Two `gymcast serve --redis` processes and a balancer in front; yields (hosts, balancer)."""
    hosts = [HostProcess(bundle, database, extra_args=("--redis", redis_url)).start() for _ in range(2)]
    balancer = Balancer([host.port for host in hosts])
    try:
        yield hosts, balancer
    finally:
        balancer.close()
        for host in hosts:
            host.stop()


def start_pair_across(browser, balancer: Balancer) -> tuple:
    """Two pages, the first one's relay connection on the first process, the second one's on the second."""
    first, second = (open_player(browser, balancer.url, name) for name in ("first", "second"))  # both loaded
    first.click("#start")  # then started one after the other, well within the waiting room's timeout
    wait_for(first, "s.net && s.net.phase === 'waiting'")
    second.click("#start")
    wait_for(first, "s.net.phase === 'matched' || s.step > 0")
    assert balancer.relay_routes == [0, 1], "each page's relay connection is on its own process"
    return first, second


def steps_by_episode(store) -> dict[str, dict[tuple[int, int], dict]]:
    """Every logged step: {session_id: {(episode, step): data}}."""
    steps: dict[str, dict[tuple[int, int], dict]] = {}
    for event in store.iter_events():
        if event.type == "step":
            steps.setdefault(event.session_id, {})[(event.episode, event.step)] = event.data
    return steps


def test_pages_on_two_processes_play_one_game_in_lockstep(browser, tmp_path, database, redis_url):
    bundle = build_capped(DUO, tmp_path / "bundle", STEPS, max_episode_steps=STEPS)
    with two_hosts_behind_a_balancer(bundle, database, redis_url) as (_, balancer):
        pages = start_pair_across(browser, balancer)
        statuses = [wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90) for page in pages]
    store = open_store(database)
    mine, theirs = (steps_by_episode(store)[status["session_id"]] for status in statuses)
    assert len(mine) == STEPS and mine.keys() == theirs.keys()
    for key in mine:  # one game: the same state and joint action at every step
        assert mine[key]["obs_hash"] == theirs[key]["obs_hash"], f"the games differ at {key}"
        assert mine[key]["actions"] == theirs[key]["actions"], f"the joint action differs at {key}"
    kinds = [event.type for event in store.iter_relay_events()]
    assert kinds.count("group_formed") == 1 and "desync" not in kinds


def test_a_page_whose_process_is_killed_rejoins_through_the_other_and_the_game_resumes(
    browser, tmp_path, database, redis_url
):
    bundle = build_capped(DUO, tmp_path / "bundle", 2 * STEPS, max_episode_steps=2 * STEPS)
    with two_hosts_behind_a_balancer(bundle, database, redis_url) as (hosts, balancer):
        first, second = start_pair_across(browser, balancer)
        wait_for(first, "s.step >= 120", 60)
        hosts[0].kill()  # the process the first page is connected to: SIGKILL, mid-episode
        killed_at = wait_for(first, "true")["step"]
        wait_for(first, "s.net.phase === 'rejoined'", 20)  # the grace period is 30 s
        assert balancer.relay_routes[2:] == [1], "it came back through the other process"
        try:
            wait_for(first, f"s.step >= {killed_at + 60}", 20)  # the game resumed
        except AssertionError:
            print("the partner's page:", second.evaluate("window.gymcast.status()"))
            for event in open_store(database).iter_relay_events():
                print("relay event:", event.type, str(event.data)[:300])
            raise
        statuses = [wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90) for page in (first, second)]
    store = open_store(database)
    sessions = [status["session_id"] for status in statuses]
    mine, theirs = (steps_by_episode(store)[session] for session in sessions)
    (back,) = events_of(store, sessions[0], "rejoined")
    after = [key for key in mine if key[1] > back.step]
    assert len(after) > 60 and all(mine[key]["obs_hash"] == theirs[key]["obs_hash"] for key in after)
    relay = list(store.iter_relay_events())
    (rejoin,) = [event for event in relay if event.type == "rejoin"]
    assert rejoin.data["session_id"] == sessions[0]
    assert [event.data["reason"] for event in relay if event.type == "group_end"] == ["finished"]
