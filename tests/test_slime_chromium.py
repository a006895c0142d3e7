"""Slime Volleyball in real Chromium pages: drawn by Phaser, played with key chords against the ONNX
baseline, and by two people over the relay."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from conftest import (
    HostProcess,
    assert_one_game,
    build_capped,
    colour_regions,
    events_of,
    open_player,
    start_pair,
    wait_for,
)
from gymcast.storage import SQLiteEventStore

SLIME = Path(__file__).resolve().parents[1] / "examples" / "slime_volleyball"
sys.path.insert(0, str(SLIME))
from court import COLORS, WIDTH  # noqa: E402
from slime_players import BASELINE  # noqa: E402

STEPS = 150


def assert_court_drawn(page) -> None:
    """Both slimes, the ball and the floor are on the canvas, each slime on its own side. The ball can
    fly above the court's top edge (as in the original game), so a few screenshots may be needed."""
    for _ in range(30):
        found = colour_regions(page, {name: COLORS[name] for name in ("left", "right", "ball", "floor")})
        if found["ball"][0] > 60:
            break
        time.sleep(0.1)
    assert found["ball"][0] > 60, found
    assert found["floor"][0] > WIDTH * 15, found
    for side in ("left", "right"):
        count, mean_x, _ = found[side]
        assert count > 300, found
        assert (mean_x < WIDTH / 2) == (side == "left"), f"the {side} slime is drawn on the wrong side: {found}"


def test_a_person_plays_the_onnx_baseline(browser, tmp_path):
    bundle = build_capped(SLIME, tmp_path / "bundle", STEPS)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        page = open_player(browser, host.url, "volley")
        page.click("#start")
        page.keyboard.down("ArrowLeft")
        page.keyboard.down("ArrowUp")  # the chord: run to the net and jump
        wait_for(page, "s.step >= 45")
        assert not page.is_visible("#overlay"), "the start overlay still covers the game"
        assert_court_drawn(page)
        page.keyboard.up("ArrowUp")
        page.keyboard.up("ArrowLeft")
        page.keyboard.down("ArrowRight")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 60)
    assert status["frames_drawn"] >= STEPS // 2  # frames kept coming to the end (their rate is measured in bench/)
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    steps = [event.data for event in events_of(store, status["session_id"], "step")]
    assert len(steps) == STEPS
    (end,) = events_of(store, status["session_id"], "episode_end")
    assert end.data["truncated"] is True
    chord = [s for s in steps if s["keys"]["right"] == "ArrowLeft+ArrowUp"]
    assert chord and all(s["actions"]["right"] == 2 for s in chord)
    assert any(s["keys"]["right"] == "ArrowRight" and s["actions"]["right"] == 5 for s in steps)
    assert len({s["actions"]["left"] for s in steps}) > 1, "the baseline never changed its action"


def test_two_people_play_one_match(browser, tmp_path):
    bundle = build_capped(SLIME / "human_human.py", tmp_path / "bundle", STEPS)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        pages = start_pair(browser, host.url)
        pages[0].keyboard.down("ArrowUp")
        pages[1].keyboard.down("ArrowLeft")
        wait_for(pages[1], "s.step >= 45")
        for page in pages:
            assert_court_drawn(page)
        statuses = [wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90) for page in pages]
    assert {status["net"]["seat"] for status in statuses} == {"left", "right"}
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    first, _ = assert_one_game(store)
    assert len(first) == STEPS
    jumper, runner = (status["net"]["seat"] for status in statuses)
    assert any(s["actions"][jumper] == 3 for s in first.values())  # ↑ on the first page: jump
    leftwards = 1 if runner == "right" else 5  # ← on the second page: forward on the right, back on the left
    assert any(s["actions"][runner] == leftwards for s in first.values())


def test_alone_the_onnx_baseline_takes_the_empty_side(browser, tmp_path):
    rules = {
        "wait_timeout_s": 2,
        "on_timeout": "ai",
        "grace_s": 30,
        "on_dropout": "ai",
        "fallbacks": {"left": BASELINE, "right": BASELINE},
    }
    bundle = build_capped(SLIME / "human_human.py", tmp_path / "bundle", STEPS, multiplayer=rules)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        page = open_player(browser, host.url, "alone")
        page.click("#start")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 60)
    assert status["error"] is None
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    (run_start,) = events_of(store, status["session_id"], "run_start")
    empty = "right" if run_start.data["seat"] == "left" else "left"
    steps = [event.data for event in events_of(store, status["session_id"], "step")]
    assert len(steps) == STEPS and all(s["policy_agents"] == [empty] for s in steps)
    assert len({s["actions"][empty] for s in steps}) > 1, "the baseline never changed its action"
