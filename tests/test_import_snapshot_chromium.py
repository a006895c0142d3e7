"""Warm visits from a snapshot of Python taken after the imports: a first visit makes it in a second
worker, the next visit restores it (the boot event says so) and plays the same game step by step;
a damaged snapshot (or one an older gymcast stored) is refused, logged, and the page boots afresh and plays."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import HostProcess, events_of, wait_for
from gymcast.storage import SQLiteEventStore

GLOBAL_RNG = Path(__file__).parent / "fixtures" / "experiments" / "global_rng_reset"

STORED = """async () => {
  const cache = await caches.open("gymcast-import-snapshots");
  return (await cache.keys()).map((request) => request.url);
}"""


#: damage to the stored snapshot -> what the page's fallback reason must say
DAMAGE = {
    "zeroed memory": (
        """async () => {
  const cache = await caches.open("gymcast-import-snapshots");
  const key = (await cache.keys()).find((request) => request.url.endsWith("/memory"));
  const memory = new Uint8Array(await (await cache.match(key)).arrayBuffer());
  memory.fill(0, 0, 4096);
  await cache.put(key, new Response(memory, { headers: { "Content-Type": "application/octet-stream" } }));
}""",
        "magic",
    ),
    "an older gymcast's format": (
        """async () => {
  const cache = await caches.open("gymcast-import-snapshots");
  const key = (await cache.keys()).find((request) => request.url.endsWith("/meta.json"));
  const { format, files, ...older } = await (await cache.match(key)).json();
  await cache.put(key, new Response(JSON.stringify(older), { headers: { "Content-Type": "application/json" } }));
}""",
        "another version of gymcast (format 1",
    ),
}


@pytest.fixture(scope="module")
def rng_bundle(tmp_path_factory) -> Path:
    """CartPole drawing from the global random states (see the fixture's noisy.py)."""
    from gymcast.bundler.bundle import build_bundle

    out = tmp_path_factory.mktemp("bundles") / "global_rng_reset"
    build_bundle(GLOBAL_RNG, out)
    return out


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


def _steps(store: SQLiteEventStore, status: dict) -> list[tuple]:
    return [
        (e.episode, e.step, e.data["obs_hash"], e.data["actions"])
        for e in events_of(store, status["session_id"], "step")
    ]


def test_a_return_visit_restores_python_after_the_imports_and_plays_the_same_game(browser, rng_bundle, tmp_path):
    context = browser.new_context(service_workers="block")
    with HostProcess(rng_bundle, tmp_path / "logs.sqlite") as host:
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
    steps = [_steps(store, status) for status in (first, second)]
    assert len(steps[0]) > 20 and steps[0] == steps[1]  # same seeds, same global draws, step by step


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_snapshot_is_refused_logged_and_the_page_boots_afresh(browser, rng_bundle, tmp_path, damage):
    script, reason = DAMAGE[damage]
    context = browser.new_context(service_workers="block")

    def corrupt(page) -> None:
        _snapshot_stored(page)
        page.evaluate(script)

    with HostProcess(rng_bundle, tmp_path / "logs.sqlite") as host:
        first = _visit(context, host.url, "first", before_start=corrupt)
        second = _visit(context, host.url, "second")
    context.close()
    assert second["python_boot"]["path"] == "fresh"
    assert "did not restore" in second["python_boot"]["why"] and reason in second["python_boot"]["why"]
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    (boot,) = events_of(store, second["session_id"], "boot")
    assert boot.data["python_boot"] == second["python_boot"]  # logged, with the reason
    steps = [_steps(store, status) for status in (first, second)]
    assert len(steps[0]) > 20 and steps[0] == steps[1]
