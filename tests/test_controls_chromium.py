"""Human-in-the-loop controls in Chromium: feedback, pause/resume, restart, frame rate, action buffer."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import HostProcess, wait_for
from gymcast.bundler.bundle import build_bundle
from gymcast.replay import logged_episodes, open_bundle
from gymcast.storage import SQLiteEventStore

HITL = Path(__file__).parent / "fixtures" / "experiments" / "hitl"


@pytest.fixture(scope="module")
def controlled_run(browser, tmp_path_factory):
    root = tmp_path_factory.mktemp("hitl")
    bundle = build_bundle(HITL, root / "bundle").path
    with HostProcess(bundle, root / "logs.sqlite") as host:
        page = browser.new_context().new_page()
        page.goto(host.url)
        wait_for(page, "s.phase === 'ready'")
        assert all(page.is_visible(f"#{button}") for button in ("feedback-good", "pause", "restart", "fps-up"))
        page.click("#start")
        wait_for(page, "s.step >= 5")
        page.keyboard.press("a")  # one short tap: kept alive for 4 steps by the action buffer
        wait_for(page, "s.step >= 15")
        page.click("#feedback-good")
        wait_for(page, "s.step >= 25")
        page.click("#pause")
        paused = wait_for(page, "s.paused")
        time.sleep(0.6)
        still = page.evaluate("window.gymcast.status()")
        page.click("#pause")  # now labelled Resume
        wait_for(page, f"!s.paused && s.step > {still['step'] + 2}")
        page.click("#fps-up")
        faster = wait_for(page, "s.fps === 25")
        page.click("#restart")
        wait_for(page, "s.in_episode && s.step >= 3")
        page.click("#pause")
        wait_for(page, "s.paused && s.pending_events === 0")
        page.context.close()
    return bundle, host.data, paused, still, faster


def events(db) -> list[dict]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT type, episode, step, data FROM events ORDER BY seq").fetchall()
    return [{"type": r[0], "episode": r[1], "step": r[2], **json.loads(r[3])} for r in rows]


def test_the_action_buffer_keeps_a_tap_alive_for_four_steps(controlled_run):
    steps = [e for e in events(controlled_run[1]) if e["type"] == "step"]
    pressed = [e["step"] for e in steps if e["actions"]["human"] == 2]
    assert len(pressed) == 4 and pressed == list(range(pressed[0], pressed[0] + 4))
    assert all(e["keys"]["human"] == "a" for e in steps if e["step"] in pressed)


def test_feedback_is_logged_with_its_step_and_delivered_to_the_python_policy(controlled_run):
    logged = events(controlled_run[1])
    (feedback,) = [e for e in logged if e["type"] == "feedback"]
    assert feedback["value"] == "good" and feedback["delivered_to"] == ["ai"] and feedback["episode"] == 0
    first_attempt = logged[: logged.index(next(e for e in logged if e.get("restarted")))]
    ai = {e["step"]: e["actions"]["ai"] for e in first_attempt if e["type"] == "step"}
    assert {a for s, a in ai.items() if s <= feedback["step"]} == {0}
    assert {a for s, a in ai.items() if s > feedback["step"]} == {1}


def test_pause_stops_the_game_and_is_logged(controlled_run):
    _, db, paused, still, _ = controlled_run
    assert still["paused"] and still["step"] <= paused["step"] + 1
    types = [e["type"] for e in events(db)]
    assert types.count("pause") == 2 and types.count("resume") == 1


def test_frame_rate_changes_within_bounds_and_is_logged(controlled_run):
    assert controlled_run[4]["fps"] == 25
    assert [e["fps"] for e in events(controlled_run[1]) if e["type"] == "fps"] == [25]


def test_restart_replays_the_same_episode_as_a_new_attempt(controlled_run):
    bundle, db = controlled_run[0], controlled_run[1]
    logged = events(db)
    starts = [e for e in logged if e["type"] == "episode_start"]
    assert [(e["episode"], e["attempt"]) for e in starts] == [(0, 0), (0, 1)]
    assert starts[0]["seed"] == starts[1]["seed"] and starts[0]["obs_hash"] == starts[1]["obs_hash"]
    (end,) = [e for e in logged if e["type"] == "episode_end"]
    assert end["restarted"] and end["attempt"] == 0
    with open_bundle(bundle) as game:
        results = [game.replay(e) for e in logged_episodes(SQLiteEventStore(db).iter_events())]
    # the second attempt was left paused: every logged step matched, and the log ends there
    assert [(r.episode.attempt, r.status) for r in results] == [(0, "match"), (1, "partial")]
