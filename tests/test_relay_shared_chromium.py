"""Two Chromium pages on two `gymcast serve` processes that share one Redis and one PostgreSQL, behind a load
balancer: they meet, play a full episode in lockstep, and the game survives one process being SIGKILLed."""

from __future__ import annotations

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


def steps_by_episode(store) -> dict[str, dict[tuple[int, int], dict]]:
    """Every logged step: {session_id: {(episode, step): data}}."""
    steps: dict[str, dict[tuple[int, int], dict]] = {}
    for event in store.iter_events():
        if event.type == "step":
            steps.setdefault(event.session_id, {})[(event.episode, event.step)] = event.data
    return steps


def test_pages_on_two_processes_play_one_game_and_survive_a_killed_process(browser, tmp_path, database, redis_url):
    bundle = build_capped(DUO, tmp_path / "bundle", STEPS, num_episodes=2, max_episode_steps=STEPS)
    hosts = [HostProcess(bundle, database, extra_args=("--redis", redis_url)).start() for _ in range(2)]
    balancer = Balancer([host.port for host in hosts])
    try:
        first = open_player(browser, balancer.url, "first")
        first.click("#start")
        wait_for(first, "s.net && s.net.phase === 'waiting'")
        second = open_player(browser, balancer.url, "second")
        second.click("#start")
        wait_for(first, "s.episode === 1 && s.step >= 60", 60)  # episode 0 was played in full
        assert balancer.relay_routes == [0, 1], "each page's relay connection is on its own process"
        hosts[0].kill()  # the process the first page is connected to: SIGKILL, mid-episode
        killed_at = wait_for(first, "true")["step"]
        rejoined = wait_for(first, "s.net.phase === 'rejoined'", 20)  # the grace period is 30 s
        assert rejoined["episode"] == 1 and balancer.relay_routes[2:] == [1], "it came back through the other one"
        try:
            wait_for(first, f"s.step >= {killed_at + 60}", 20)  # the game resumed
        except AssertionError:
            print("DEBUG second:", second.evaluate("window.gymcast.status()"))
            for event in open_store(database).iter_relay_events():
                print("DEBUG relay:", event.type, str(event.data)[:300])
            raise
        statuses = [wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90) for page in (first, second)]
    finally:
        balancer.close()
        for host in hosts:
            host.stop()
            log = host.process.stderr.read() if host.process and host.process.stderr else ""
            print(
                f"host on port {host.port}:", "\n".join(line for line in log.splitlines() if "INFO" not in line)[-3000:]
            )
    store = open_store(database)
    sessions = [status["session_id"] for status in statuses]
    steps = steps_by_episode(store)
    mine, theirs = steps[sessions[0]], steps[sessions[1]]
    episode0 = sorted(key for key in mine if key[0] == 0)
    assert len(episode0) == STEPS and episode0 == sorted(key for key in theirs if key[0] == 0)
    for key in episode0:  # one game: the same state and joint action at every step
        assert mine[key]["obs_hash"] == theirs[key]["obs_hash"], f"the games differ at {key}"
        assert mine[key]["actions"] == theirs[key]["actions"], f"the joint action differs at {key}"
    (back,) = events_of(store, sessions[0], "rejoined")
    after = [key for key in mine if key[0] == 1 and key[1] > back.step]
    assert len(after) > 60 and all(mine[key]["obs_hash"] == theirs[key]["obs_hash"] for key in after)
    relay = [event for event in store.iter_relay_events()]
    assert [event.type for event in relay].count("group_formed") == 1
    (rejoin,) = [event for event in relay if event.type == "rejoin"]
    assert rejoin.data["session_id"] == sessions[0]
    assert [event.data["reason"] for event in relay if event.type == "group_end"] == ["finished"]
