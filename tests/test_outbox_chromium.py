"""The browser outbox in Chromium: a network outage or a page reload loses no event."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request

from conftest import reload_during_episode, wait_for
from gymcast.contracts import LOG_SCHEMA
from gymcast.replay import logged_episodes, open_bundle
from gymcast.storage import SQLiteEventStore


def seqs_by_session(db) -> dict[str, list[int]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT session_id, seq FROM events ORDER BY session_id, seq").fetchall()
    result: dict[str, list[int]] = {}
    for session_id, seq in rows:
        result.setdefault(session_id, []).append(seq)
    return result


def test_events_logged_while_offline_arrive_when_back_online(page, host):
    page.goto(host.url + "/")
    wait_for(page, "s.phase === 'ready'")
    page.click("#start")
    wait_for(page, "s.episode === 0 && s.step >= 3")
    page.context.set_offline(True)  # mid-episode
    page.keyboard.down("ArrowRight")
    offline = wait_for(page, "s.episode >= 1 && s.pending_events > 0 && s.log_error !== null", timeout_s=30)
    time.sleep(1)
    page.keyboard.up("ArrowRight")
    page.context.set_offline(False)
    status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", timeout_s=60)
    assert offline["log_error"] and status["rejected_events"] == 0

    seqs = seqs_by_session(host.data)
    assert list(seqs) == [status["session_id"]]
    assert seqs[status["session_id"]] == list(range(1, len(seqs[status["session_id"]]) + 1))
    with open_bundle(host.bundle) as bundle_game:
        results = [bundle_game.replay(e) for e in logged_episodes(SQLiteEventStore(host.data).iter_events())]
    assert [r.status for r in results] == ["match"] * 3


def test_a_reload_sends_what_the_previous_page_could_not(page, host):
    blocked = "**/api/v1/sessions/*/events"
    page.goto(host.url + "/")
    wait_for(page, "s.phase === 'ready'")
    page.route(blocked, lambda route: route.abort())  # the host is unreachable for logs
    page.click("#start")
    wait_for(page, "s.episode === 0 && !s.in_episode && s.pending_events > 10")  # episode 0 is over
    before = reload_during_episode(page, min_step=2)  # cut episode 1 off
    assert before["episode"] == 1 and before["pending_events"] > 10
    resumed = wait_for(page, "s.phase === 'ready'")
    assert resumed["session_id"] == before["session_id"]
    assert resumed["pending_events"] >= before["pending_events"]  # restored from IndexedDB
    page.unroute(blocked)
    page.click("#start")
    status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", timeout_s=60)

    seqs = seqs_by_session(host.data)
    assert list(seqs) == [before["session_id"]]
    assert seqs[before["session_id"]] == list(range(1, len(seqs[before["session_id"]]) + 1))
    with sqlite3.connect(host.data) as connection:
        loads = [
            json.loads(row[0])["resumed"]
            for row in connection.execute("SELECT data FROM events WHERE type = 'page_load' ORDER BY seq")
        ]
    assert loads == [False, True]
    episodes = logged_episodes(SQLiteEventStore(host.data).iter_events())
    first_run = [e for e in episodes if e.run == 1]
    assert first_run[0].ended and len(first_run[0].steps) > 0  # the episode finished before the reload
    assert [e.episode for e in first_run] == [0, 1] and not first_run[1].ended and first_run[1].steps  # cut off
    assert [e.episode for e in episodes if e.run == 2] == [1, 2]  # the cut-off episode is played again
    with open_bundle(host.bundle) as bundle_game:
        assert [bundle_game.replay(e).status for e in episodes] == [
            "match",
            "partial",
            "match",
            "match",
        ]  # the attempt the reload cut off: its logged prefix matched
    assert status["phase"] == "done"


def post_events(host, session_id: str, token: str, events: list[dict]) -> int:
    """POST a batch of events as another page of this session would; the HTTP status."""
    request = urllib.request.Request(
        f"{host.url}/api/v1/sessions/{session_id}/events",
        data=json.dumps({"schema": LOG_SCHEMA, "events": events}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request) as response:
        return response.status


def test_seqs_the_host_holds_with_other_content_are_renumbered_not_dropped(page, host):
    """If an earlier page's events reached the host under seqs this page reuses (its numbering was lost with a
    reload), the host refuses the batch with 409 and the outbox sends the events again under new seqs."""
    blocked = "**/api/v1/sessions/*/events"
    page.route(blocked, lambda route: route.abort())
    page.goto(host.url + "/")
    status = wait_for(page, "s.phase === 'ready' && s.pending_events > 0")
    session = page.evaluate(
        """() => new Promise((resolve, reject) => {
            const opening = indexedDB.open("gymcast-outbox");
            opening.onerror = () => reject(opening.error);
            opening.onsuccess = () => {
                const read = opening.result.transaction("sessions").objectStore("sessions").getAll();
                read.onsuccess = () => resolve(read.result[0]);
            };
        })"""
    )
    assert session["session_id"] == status["session_id"] and session["token"]
    taken = [{"seq": seq, "t": 1, "type": "earlier_page"} for seq in (1, 2)]  # the page's page_load is seq 1
    assert post_events(host, session["session_id"], session["token"], taken) == 200
    page.unroute(blocked)
    page.click("#start")
    done = wait_for(page, "s.phase === 'done' && s.pending_events === 0", timeout_s=60)
    assert done["rejected_events"] == 0
    with sqlite3.connect(host.data) as connection:
        rows = connection.execute(
            "SELECT seq, type FROM events WHERE session_id = ? ORDER BY seq", (done["session_id"],)
        )
        seqs, types = zip(*rows.fetchall())
    assert list(seqs) == list(range(1, len(seqs) + 1))  # nothing dropped, nothing stored twice
    assert types[:2] == ("earlier_page", "earlier_page") and types.count("page_load") == 1
