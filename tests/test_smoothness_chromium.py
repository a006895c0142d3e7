"""A late step never stalls the page: the main thread keeps drawing, and the log records how late the step was.
Before Start, the worker warms the game up on a throwaway env, which changes nothing in the game."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import HostProcess, events_of, open_player, wait_for
from gymcast.storage import SQLiteEventStore

SLOW_STEP = Path(__file__).parent / "fixtures" / "experiments" / "slow_step"
#: counts display frames (requestAnimationFrame callbacks) on the main thread, with their times
COUNT_DISPLAY_FRAMES = """
window.__displayFrames = [];
const tick = (now) => { window.__displayFrames.push(now); requestAnimationFrame(tick); };
requestAnimationFrame(tick);
"""


def test_a_slow_step_is_logged_late_while_the_page_keeps_drawing(browser, tmp_path):
    from gymcast.bundler.bundle import build_bundle

    bundle = build_bundle(SLOW_STEP, tmp_path / "bundle").path
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        context = browser.new_context()
        context.add_init_script(COUNT_DISPLAY_FRAMES)
        page = open_player(browser, host.url, "slow", context)
        page.click("#start")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 60)
        drawn_steps = page.evaluate("window.gymcast.drawnSteps()")
        display_frames = page.evaluate("window.__displayFrames")
    steps = {
        e.step: e.data for e in events_of(SQLiteEventStore(tmp_path / "logs.sqlite"), status["session_id"], "step")
    }
    assert steps[6]["late_ms"] >= 300, "the step after the slow one starts late, and the log says by how much"
    assert max(steps[s]["late_ms"] for s in steps if s < 5) < 300
    before = next(at for episode, step, at in drawn_steps if step == 4)  # the last frame before the slow step
    after = next(at for episode, step, at in drawn_steps if step == 6)
    during = [t for t in display_frames if before < t < after]
    earlier = [t for t in display_frames if t <= before]
    assert after - before >= 350
    # the main thread went on with display frames while the worker was busy: at least 10 per second, or, on a
    # loaded machine whose page draws slowly anyway, at least half its own rate before the slow step
    usual_rate = (len(earlier) - 1) / (earlier[-1] - earlier[0])
    assert len(during) >= (after - before) * min(1 / 100, usual_rate / 2), (len(during), after - before, usual_rate)


def logged_game(store: SQLiteEventStore, session_id: str) -> list[tuple]:
    """Every step of a session as (episode, step, actions, obs_hash)."""
    return [
        (e.episode, e.step, e.data["actions"], e.data.get("obs_hash")) for e in events_of(store, session_id, "step")
    ]


def test_the_game_warms_up_before_start_and_plays_the_same_either_way(browser, global_rng_bundle, tmp_path):
    """The game draws from the global RNGs, so a warm-up that used or lost their state would change it."""
    with HostProcess(global_rng_bundle, tmp_path / "logs.sqlite") as host:
        warm_up_then_play_twice(browser, host)


def warm_up_then_play_twice(browser, host) -> None:
    store = SQLiteEventStore(host.data)
    at_once = open_player(browser, host.url, "quick")
    at_once.click("#start")  # Start at once: the warm-up gives way within a step, if it is still going
    patient = open_player(browser, host.url, "patient")
    patient_id = wait_for(patient, "s.session_id")["session_id"]
    deadline = time.monotonic() + 60
    while not events_of(store, patient_id, "warm_up") and time.monotonic() < deadline:
        time.sleep(0.2)
    (warm_up,) = events_of(store, patient_id, "warm_up")
    assert warm_up.data["steps"] == 30 and not warm_up.data["stopped_by_start"] and "error" not in warm_up.data
    patient.click("#start")
    games = []
    for page in (at_once, patient):
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 60)
        games.append(logged_game(store, status["session_id"]))
    assert events_of(store, at_once.evaluate("window.gymcast.status().session_id"), "warm_up")  # cut short or not
    assert games[0] == games[1] and len(games[0]) > 10
