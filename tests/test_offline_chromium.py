"""The service worker: after one visit, the study starts and plays with the host down, and its logs
arrive once the host is back."""

from __future__ import annotations

from conftest import HostProcess, events_of, wait_for
from gymcast.storage import SQLiteEventStore


def test_a_return_visit_starts_and_plays_with_the_host_down(browser, cartpole_bundle, tmp_path):
    data = tmp_path / "logs.sqlite"
    context = browser.new_context()
    host = HostProcess(cartpole_bundle, data).start()
    first = context.new_page()
    first.goto(f"{host.url}/?PROLIFIC_PID=traveller")
    wait_for(first, "s.phase === 'ready' && s.offline_ready", 90)
    first.close()
    host.stop()  # nothing answers on that port now: every file must come from the device

    page = context.new_page()
    page.goto(f"{host.url}/?PROLIFIC_PID=traveller")
    wait_for(page, "s.phase === 'ready'", 90)
    page.click("#start")
    offline = wait_for(page, "s.phase === 'done'")  # every episode played, without a host
    assert offline["pending_events"] > 0 and offline["error"] is None  # the logs wait on the device

    back = HostProcess(cartpole_bundle, data, port=host.port).start()
    try:
        wait_for(page, "s.pending_events === 0", 60)
    finally:
        back.stop()
        context.close()
    store = SQLiteEventStore(data)
    assert len(events_of(store, offline["session_id"], "episode_end")) == 3
    assert events_of(store, offline["session_id"], "step")
