"""CoGrid Overcooked in real Chromium pages: sprites from the example's sheet, keys against the ONNX
partner, and two people in one kitchen over the relay."""

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

OVERCOOKED = Path(__file__).resolve().parents[1] / "examples" / "overcooked"
sys.path.insert(0, str(OVERCOOKED))
from kitchen import DOWN, INTERACT, LEFT, RIGHT, UP  # noqa: E402
from kitchen_view import HUD, TILE  # noqa: E402

STEPS = 60
KEYS = {"ArrowUp": UP, "ArrowDown": DOWN, "ArrowLeft": LEFT, "ArrowRight": RIGHT, " ": INTERACT}
SPRITE_COLOURS = {"blue_coat": "#2f7de1", "green_coat": "#3caa5a", "stripes": "#f0c828", "wood": "#c49462"}


def assert_kitchen_drawn(page) -> None:
    """The counters, the serving window (bottom row, fourth column) and both chefs (on the floor) are drawn."""
    found = colour_regions(page, SPRITE_COLOURS, tolerance=10)
    assert found["wood"][0] > 20 * TILE * TILE // 4, found
    count, x, y = found["stripes"]
    assert count > 400 and abs(x - 3.5 * TILE) < 10 and abs(y - (HUD + 3.5 * TILE)) < 10, found
    for chef in ("blue_coat", "green_coat"):
        count, x, y = found[chef]
        assert count > 300 and TILE < x < 4 * TILE and HUD + TILE < y < HUD + 3 * TILE, found


def tap(page, keys: list[str]) -> None:
    for key in keys:
        page.keyboard.press(key)
        time.sleep(0.2)


def test_a_person_cooks_with_the_onnx_partner(browser, tmp_path):
    bundle = build_capped(OVERCOOKED, tmp_path / "bundle", STEPS, max_steps=STEPS)
    assert '"pygame-ce"' not in (bundle / "manifest.json").read_text()  # cogrid imports pygame only if it is there
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        page = open_player(browser, host.url, "cook")
        page.click("#start")
        tap(page, ["ArrowLeft", "ArrowUp", " ", "ArrowRight", "ArrowDown"])
        wait_for(page, "s.step >= 30")
        assert_kitchen_drawn(page)
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 60)
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    steps = [event.data for event in events_of(store, status["session_id"], "step")]
    assert len(steps) == STEPS
    (end,) = events_of(store, status["session_id"], "episode_end")
    assert end.data["truncated"] is True
    used = [(s["keys"]["blue"], s["actions"]["blue"]) for s in steps if s["keys"]["blue"]]
    assert [key for key, _ in used] == [
        "ArrowLeft",
        "ArrowUp",
        " ",
        "ArrowRight",
        "ArrowDown",
    ]  # one step per keystroke
    assert all(action == KEYS[key] for key, action in used)
    partner = [s["actions"]["green"] for s in steps]
    assert INTERACT in partner and len(set(partner)) >= 3, "the partner should walk and pick things up"


def test_two_people_cook_in_one_kitchen(browser, tmp_path):
    bundle = build_capped(OVERCOOKED / "human_human.py", tmp_path / "bundle", STEPS, max_steps=STEPS)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        pages = start_pair(browser, host.url)
        for page in pages:
            wait_for(page, "s.step >= 2")
        tap(pages[0], ["ArrowLeft", "ArrowUp", " "])
        tap(pages[1], ["ArrowRight", " "])
        wait_for(pages[1], "s.step >= 30")
        for page in pages:
            assert_kitchen_drawn(page)
        statuses = [wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90) for page in pages]
    seats = [status["net"]["seat"] for status in statuses]
    assert sorted(seats) == ["blue", "green"]
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    first, _ = assert_one_game(store)
    assert len(first) == STEPS
    for seat, keys in zip(seats, (["ArrowLeft", "ArrowUp", " "], ["ArrowRight", " "])):
        assert [KEYS[k] for k in keys] == [s["actions"][seat] for s in first.values() if s["actions"][seat] != 6]
