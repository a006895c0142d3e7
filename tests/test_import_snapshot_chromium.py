"""Warm visits from a snapshot of Python taken after the imports: a first visit makes it in a second
worker, the next visit restores it (the boot event says so) and plays the same game step by step;
a corrupted snapshot is refused, logged, and the page boots afresh and plays."""

from __future__ import annotations

import time

from conftest import HostProcess, events_of, wait_for
from gymcast.storage import SQLiteEventStore

STORED = """async () => {
  const cache = await caches.open("gymcast-import-snapshots");
  return (await cache.keys()).map((request) => request.url);
}"""


def _visit(context, url: str, participant: str, *, before_start=None) -> dict:
    page = context.new_page()
    page.goto(f"{url}/?PROLIFIC_PID={participant}")
    wait_for(page, "s.phase === 'ready'", 120)
    if before_start:
        before_start(page)
    page.click("#start")
    status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 120)
    page.close()
    return status


def _snapshot_stored(page, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(url.endswith("/meta.json") for url in page.evaluate(STORED)):
        assert time.monotonic() < deadline, "no snapshot was stored"
        page.wait_for_timeout(250)


def test_a_return_visit_restores_python_after_the_imports_and_plays_the_same_game(browser, cartpole_bundle, tmp_path):
    context = browser.new_context(service_workers="block")
    with HostProcess(cartpole_bundle, tmp_path / "logs.sqlite") as host:
        first = _visit(context, host.url, "first", before_start=_snapshot_stored)
        second = _visit(context, host.url, "second")
    context.close()
    assert first["python_boot"]["path"] == "fresh"
    assert second["python_boot"] == {"path": "restored", "why": None}
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    made = [event.data for event in events_of(store, first["session_id"], "python_snapshot")]
    assert made and made[-1]["outcome"] == "made" and made[-1]["bytes"] > 10_000_000
    (boot,) = events_of(store, second["session_id"], "boot")
    assert boot.data["python_boot"]["path"] == "restored"
    steps = [
        [(e.episode, e.step, e.data["obs_hash"], e.data["actions"]) for e in events_of(store, s["session_id"], "step")]
        for s in (first, second)
    ]
    assert steps[0] and steps[0] == steps[1]
