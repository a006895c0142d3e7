"""End to end: build the CartPole bundle, serve it, play it with keys in Chromium, check the host's SQLite."""

from __future__ import annotations

import json
import sqlite3
import subprocess

from conftest import gymcast_command, wait_for

KEY_ACTIONS = {"ArrowLeft": 0, "ArrowRight": 1}
DEFAULT_ACTION = 0


def logged_events(db_path) -> list[dict]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT session_id, seq, type, episode, step, data FROM events ORDER BY session_id, seq"
        ).fetchall()
    return [
        {"session_id": r[0], "seq": r[1], "type": r[2], "episode": r[3], "step": r[4], **json.loads(r[5])} for r in rows
    ]


def test_a_participant_plays_cartpole_and_every_step_is_logged(played_cartpole):
    status, db = played_cartpole.status, played_cartpole.db
    assert status["rejected_events"] == 0 and status["frames_drawn"] > 10 and status["durable_log"]

    events = logged_events(db)
    sessions = {e["session_id"] for e in events}
    assert sessions == {status["session_id"]}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "events lost or duplicated"

    (boot,) = [e for e in events if e["type"] == "boot"]  # where the loading time went
    stages = boot["stages_ms"]
    assert set(stages) == {"download", "python", "install", "import", "total"}
    assert 0 < stages["python"] < stages["total"] and stages["install"] + stages["import"] < stages["total"]

    steps = [e for e in events if e["type"] == "step"]
    assert {e["episode"] for e in steps} == {0, 1, 2}
    for event in steps:
        key = event["keys"]["player"]
        assert event["actions"]["player"] == (KEY_ACTIONS[key] if key else DEFAULT_ACTION), event
    held = {ep: {e["keys"]["player"] for e in steps if e["episode"] == ep} for ep in (0, 1, 2)}
    assert held == {0: {"ArrowRight"}, 1: {"ArrowLeft"}, 2: {None}}

    ends = [e for e in events if e["type"] == "episode_end"]
    assert [e["episode"] for e in ends] == [0, 1, 2]
    for end in ends:
        last = max((e for e in steps if e["episode"] == end["episode"]), key=lambda e: e["step"])
        assert last["terminated"] or last["truncated"]
        assert end["steps"] == last["step"] == sum(1 for e in steps if e["episode"] == end["episode"])
        assert isinstance(end["custom"]["final_angle"], float)  # the example's callback ran in the browser
    assert all(("custom" in e) == (e["step"] % 10 == 0) for e in steps)

    with sqlite3.connect(db) as connection:
        params = json.loads(connection.execute("SELECT url_params FROM sessions").fetchone()[0])
    assert params == {"PROLIFIC_PID": "p123", "STUDY_ID": "s1"}

    exported = subprocess.run(gymcast_command("export", str(db)), capture_output=True, text=True, check=True)
    assert len(exported.stdout.splitlines()) == len(events)


def test_a_bundle_that_cannot_load_shows_a_clear_error(browser, host, cartpole_bundle, tmp_path):
    lock = next(
        p for p in json.loads((cartpole_bundle / "manifest.json").read_text())["files"] if p.endswith("lock.json")
    )
    page = browser.new_context(service_workers="block").new_page()  # the route must see the worker's fetches
    page.route(f"**/{lock}", lambda route: route.fulfill(status=404, body="gone"))
    page.goto(host.url + "/")
    status = wait_for(page, "s.phase === 'error'")
    assert status["error"].startswith("starting Python (Pyodide 0.27.7")
    assert lock in status["error"]
    assert page.is_visible("#error-text")
    assert page.inner_text("#error-text") == status["error"]
