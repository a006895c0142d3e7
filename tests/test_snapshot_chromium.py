"""Python's start from a memory snapshot: the first visit makes one, the next restores it, and the
restored interpreter plays exactly the same game."""

from __future__ import annotations

from conftest import HostProcess, events_of, wait_for
from gymcast.storage import SQLiteEventStore


def test_a_second_visit_starts_python_from_the_snapshot_and_plays_the_same_game(browser, global_rng_bundle, tmp_path):
    context = browser.new_context(service_workers="block")  # only the snapshot differs between the visits
    statuses = []
    with HostProcess(global_rng_bundle, tmp_path / "logs.sqlite") as host:
        for participant in ("first", "second"):
            page = context.new_page()
            page.goto(f"{host.url}/?PROLIFIC_PID={participant}")
            wait_for(page, "s.phase === 'ready'", 90)
            page.click("#start")
            statuses.append(wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90))
            page.close()
    context.close()
    assert [status["python_snapshot"] for status in statuses] == ["made", "used"]
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    first, second = (
        [(e.episode, e.step, e.data["obs_hash"], e.data["actions"]) for e in events_of(store, s["session_id"], "step")]
        for s in statuses
    )
    # same seed, same default actions and the same global RNG state (the env draws from it): the same states
    assert first and first == second
    (boot,) = events_of(store, statuses[1]["session_id"], "boot")
    assert boot.data["python_snapshot"] == "used"
