"""Crashes during play (issue 16, item 3) in Chromium with a real host: the study's error page with its host-issued
partial code, every step before the error plus one acknowledged `error` event, the session marked, replay's
`ended by an error at step N`; and a warm-up error that stops the page before Start is offered."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import HostProcess, build_capped, environment_with, events_of, gymcast_command, wait_for
from gymcast.bundler.bundle import build_bundle
from gymcast.replay import logged_episodes, replay_episodes
from gymcast.storage import SQLiteEventStore

CRASH = Path(__file__).resolve().parent / "fixtures" / "experiments" / "crash"
ERROR_CODE = "C0PARTIAL"
#: records on the page whether a Start button was ever put in the document
WATCH_START = """
window.__startOffered = false;
new MutationObserver(() => {
  if (document.getElementById("start")) window.__startOffered = true;
}).observe(document, { childList: true, subtree: true });
"""


@pytest.fixture(scope="module")
def crash_bundle(tmp_path_factory) -> Path:
    """The env raises at step 20 of the participant's first episode."""
    return build_bundle(CRASH, tmp_path_factory.mktemp("crash") / "bundle").path


def crashed_page(browser, url: str):
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(WATCH_START)
    page.goto(url + "/?PROLIFIC_PID=crasher")
    return context, page


def test_an_env_error_in_play_ends_the_study_with_its_partial_code(browser, crash_bundle, tmp_path):
    with HostProcess(crash_bundle, tmp_path / "logs.sqlite") as host:
        context, page = crashed_page(browser, host.url)
        wait_for(page, "s.phase === 'ready'", timeout_s=90)
        page.click("#start")
        status = wait_for(page, "s.phase === 'error' && s.ended_by_error !== null")
        text = page.inner_text("#scene")
        assert "The game stopped because of an error in the study" in text
        assert page.inner_text("#error-code") == ERROR_CODE and page.is_visible("#error-saved")
        assert "lab@example.org" in page.inner_text("#error-contact")
        assert "Traceback" not in page.inner_text("body") and page.is_hidden("#error")  # not "could not start"
        assert status["ended_by_error"] == {
            "stage": "play",
            "episode": 0,
            "step": 20,
            "seq": status["ended_by_error"]["seq"],
            "logged": True,
            "code": ERROR_CODE,
        }
        context.close()
        store = SQLiteEventStore(host.data)
        session_id = status["session_id"]
        assert [e.step for e in events_of(store, session_id, "step")] == list(range(1, 20))
        (error,) = events_of(store, session_id, "error")
        assert (error.episode, error.step, error.data["stage"]) == (0, 20, "play")
        assert error.data["message"] == "RuntimeError: the env broke at step 20"
        assert "Traceback" in error.data["traceback"] and "experiment.py" in error.data["traceback"]
        assert error.data["actions"] == {"player": 1}
        assert error.seq == max(e.seq for e in store.iter_events(session_id))  # nothing was logged after it
        assert store.get_session(session_id).errored_at is not None
        (result,) = replay_episodes(crash_bundle, logged_episodes(store.iter_events(session_id)))
        assert (result.status, result.step) == ("error", 20), result.detail
        assert "replaying step 20 with its logged actions raises RuntimeError: the env broke" in result.detail
    replayed = subprocess.run(
        gymcast_command("replay", str(host.data), "--bundle", str(crash_bundle)),
        capture_output=True,
        text=True,
        timeout=300,
        env=environment_with(COLUMNS="250"),
    )
    assert replayed.returncode == 0, replayed.stderr
    assert "ended by an error at step 20" in replayed.stdout


def test_a_warm_up_error_stops_the_page_before_start(browser, crash_bundle, tmp_path):
    bundle = build_capped(CRASH, tmp_path / "warm_up", steps=100, in_warm_up=True)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        context, page = crashed_page(browser, host.url)
        status = wait_for(page, "s.phase === 'error' && s.ended_by_error !== null", timeout_s=90)
        assert status["ended_by_error"]["stage"] == "warm_up" and status["ended_by_error"]["logged"]
        assert not page.evaluate("window.__startOffered"), "Start was offered although the warm-up had failed"
        assert "The game stopped because of an error in the study" in page.inner_text("#scene")
        assert page.inner_text("#error-code") == ERROR_CODE
        context.close()
        store = SQLiteEventStore(host.data)
        (error,) = events_of(store, status["session_id"], "error")
        assert error.data["stage"] == "warm_up" and "while warming up" in error.data["message"]
        assert not events_of(store, status["session_id"], "run_start")


def test_start_is_offered_after_every_games_first_step_and_a_later_warm_up_error_still_stops_the_study(
    browser, crash_bundle, tmp_path
):
    bundle = build_capped(CRASH, tmp_path / "late", steps=100, in_warm_up=20, warm_up_step_s=0.05)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        context, page = crashed_page(browser, host.url)
        status = wait_for(page, "s.phase === 'error' && s.ended_by_error !== null", timeout_s=90)
        assert page.evaluate("window.__startOffered"), "Start waited for the whole warm-up"
        assert status["ended_by_error"]["stage"] == "warm_up" and status["ended_by_error"]["logged"]
        assert "The game stopped because of an error in the study" in page.inner_text("#scene")
        context.close()
        store = SQLiteEventStore(host.data)
        (warm_up,) = events_of(store, status["session_id"], "warm_up")
        assert warm_up.data["steps"] == 19 and "while warming up" in warm_up.data["error"]
        (error,) = events_of(store, status["session_id"], "error")
        assert error.data["stage"] == "warm_up" and not events_of(store, status["session_id"], "run_start")


#: the event types the page's outbox keeps in IndexedDB (not yet acknowledged by the host)
UNSENT_TYPES = """() => new Promise((resolve, reject) => {
  const opening = indexedDB.open("gymcast-outbox");
  opening.onerror = () => reject(opening.error);
  opening.onsuccess = () => {
    const request = opening.result.transaction("events").objectStore("events").getAll();
    request.onsuccess = () => resolve(request.result.map((record) => record.event.type));
  };
})"""


def test_an_unreachable_host_is_said_and_the_error_waits_in_the_browser(browser, crash_bundle, tmp_path):
    with HostProcess(crash_bundle, tmp_path / "logs.sqlite") as host:
        context, page = crashed_page(browser, host.url)
        page.route("**/api/v1/sessions/*/events", lambda route: route.abort())
        wait_for(page, "s.phase === 'ready'", timeout_s=90)
        page.click("#start")
        status = wait_for(page, "s.phase === 'error' && s.ended_by_error !== null")
        assert status["ended_by_error"]["logged"] is False and status["ended_by_error"]["code"] is None
        assert page.is_visible("#error-unsaved") and page.locator("#error-code").count() == 0
        assert "lab@example.org" in page.inner_text("#error-contact")  # the contact line needs no host
        assert page.evaluate(UNSENT_TYPES).count("error") == 1
        store = SQLiteEventStore(host.data)
        assert not events_of(store, status["session_id"], "error")
        page.unroute("**/api/v1/sessions/*/events")
        page.reload()  # the host is back: the page sends what it kept, then shows the code
        again = wait_for(page, "s.phase === 'error' && s.ended_by_error !== null && s.ended_by_error.logged")
        assert page.inner_text("#error-code") == ERROR_CODE and again["session_id"] == status["session_id"]
        assert not page.evaluate("window.__startOffered")  # a reload after the error does not start the game
        context.close()
        assert [e.step for e in events_of(store, status["session_id"], "step")] == list(range(1, 20))
        (error,) = events_of(store, status["session_id"], "error")
        assert error.step == 20 and store.get_session(status["session_id"]).errored_at is not None
