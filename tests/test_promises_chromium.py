"""README promises checked in Chromium: seeds per episode (and a drawn, logged base seed), the fields of the flow,
key and run events, two tabs sharing a session, the log without IndexedDB, and the outbox's retry when back online."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from conftest import CARTPOLE, HostProcess, events_of, open_player, wait_for
from gymcast.bundler.bundle import build_loaded
from gymcast.experiment.loader import load_experiment
from gymcast.replay import logged_episodes, open_bundle
from gymcast.storage import SQLiteEventStore

NO_INDEXEDDB = "Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });"


@pytest.fixture(scope="module")
def unseeded(tmp_path_factory):
    """The CartPole example with `seed=None`, served by one host for the module."""
    loaded = load_experiment(CARTPOLE)
    loaded.experiment.gameplay(**{**loaded.experiment.to_manifest()["gameplay"], "seed": None})
    root = tmp_path_factory.mktemp("unseeded")
    bundle = build_loaded(loaded, root / "bundle").path
    with HostProcess(bundle, root / "logs.sqlite") as host:
        yield host


def play(page) -> dict:
    """Play the three episodes, pressing ArrowRight briefly in the first; the final status."""
    page.click("#start")
    wait_for(page, "s.in_episode && s.step >= 2")
    page.keyboard.down("ArrowRight")
    wait_for(page, "s.step >= 4 || !s.in_episode")
    page.keyboard.up("ArrowRight")
    return wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90)


def test_without_a_seed_each_session_draws_a_base_seed_logs_it_and_episode_k_uses_base_plus_k(browser, unseeded):
    store = SQLiteEventStore(unseeded.data)
    max_seed = None
    bases = []
    for participant in ("unseeded1", "unseeded2"):
        page = open_player(browser, unseeded.url, participant)
        max_seed = page.evaluate("fetch('manifest.json').then((r) => r.json())")["contracts"]["max_base_seed"]
        session_id = play(page)["session_id"]
        (run_start,) = events_of(store, session_id, "run_start")
        base = run_start.data["base_seed"]
        assert isinstance(base, int) and 0 <= base <= max_seed
        assert [e.data["seed"] for e in events_of(store, session_id, "episode_start")] == [base, base + 1, base + 2]
        bases.append(base)
        page.context.close()
    assert bases[0] != bases[1]  # drawn per session (equal by chance once in 2**31)
    with open_bundle(unseeded.bundle) as game:
        results = [game.replay(e).status for e in logged_episodes(store.iter_events())]
    assert results == ["match"] * 6  # the logged seeds are enough to replay


def test_flow_key_and_run_events_carry_their_documented_fields(browser, unseeded):
    store = SQLiteEventStore(unseeded.data)
    page = open_player(browser, unseeded.url, "fields")
    session_id = play(page)["session_id"]
    page.context.close()
    keys = events_of(store, session_id, "key")
    assert [(e.data["key"], e.data["down"]) for e in keys][:2] == [("ArrowRight", True), ("ArrowRight", False)]
    for event in keys:
        assert {"key", "down", "key_time"} <= set(event.data) and isinstance(event.data["key_time"], (int, float))
        assert event.episode in (0, 1, 2) and event.step is not None  # a slow page may release after the pole fell
    assert keys[0].episode == 0 and keys[0].step is not None and keys[0].step >= 2
    (run_end,) = events_of(store, session_id, "run_end")
    assert run_end.data["episodes"] == 3
    starts, ends = events_of(store, session_id, "scene_start"), events_of(store, session_id, "scene_end")
    assert [(e.data["index"], e.data["kind"]) for e in starts] == [(0, "game")]
    assert [(e.data["index"], e.data["kind"]) for e in ends] == [(0, "game")]
    assert all("scene" in e.data for e in [*starts, *ends, run_end, *keys])


def test_two_tabs_of_one_participant_share_one_session(browser, unseeded):
    context = browser.new_context()
    first = open_player(browser, unseeded.url, "twotabs", context)
    second = open_player(browser, unseeded.url, "twotabs", context)
    assert first.evaluate("window.gymcast.status().session_id") == second.evaluate("window.gymcast.status().session_id")
    context.close()


def test_without_indexeddb_the_log_is_kept_in_memory_and_says_so(browser, unseeded):
    context = browser.new_context()
    context.add_init_script(NO_INDEXEDDB)
    page = open_player(browser, unseeded.url, "noidb", context)
    status = wait_for(page, "s.pending_events === 0 && s.session_id")
    assert status["durable_log"] is False
    (load,) = events_of(SQLiteEventStore(unseeded.data), status["session_id"], "page_load")
    assert load.data["durable_log"] is False
    context.close()


def test_the_outbox_sends_at_once_when_the_browser_is_back_online(browser, unseeded):
    page = open_player(browser, unseeded.url, "online")
    page.click("#start")
    wait_for(page, "s.in_episode && s.step >= 1")
    page.context.set_offline(True)
    wait_for(page, "s.log_error !== null && s.pending_events > 0", 30)
    time.sleep(5)  # failed sends back off: 0.5, 1, 2, 4 s, so the next retry is over 2 s away
    page.context.set_offline(False)
    online = time.monotonic()
    status = wait_for(page, "s.log_error === null", 30)  # a send went through
    elapsed = time.monotonic() - online
    assert elapsed < 1.5, f"the queued events went out {elapsed:.1f} s after the browser was back online"
    assert status["rejected_events"] == 0
    page.context.close()


def test_an_mturk_worker_is_identified_by_workerid_and_every_url_parameter_is_stored(browser, unseeded):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{unseeded.url}/?workerId=W42&assignmentId=A7&hitId=H9")
    status = wait_for(page, "s.phase === 'ready' && s.pending_events === 0", 90)
    context.close()
    assert status["participant_id"] == "W42"
    with sqlite3.connect(unseeded.data) as db:
        participant, params = db.execute(
            "SELECT participant_id, url_params FROM sessions WHERE session_id = ?", (status["session_id"],)
        ).fetchone()
    assert participant == "W42" and json.loads(params) == {"workerId": "W42", "assignmentId": "A7", "hitId": "H9"}
    (load,) = events_of(SQLiteEventStore(unseeded.data), status["session_id"], "page_load")
    assert load.data["participant_source"] == "workerId"
