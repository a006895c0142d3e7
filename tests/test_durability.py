"""Every acknowledged event survives a host crash (SIGKILL), exactly once."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from conftest import HostProcess, rows


@pytest.fixture
def data(each_data):
    """Every test here runs on SQLite and on PostgreSQL."""
    return each_data


BATCH = 25


def post(port: int, path: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    connection.request("POST", path, body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    status, data = response.status, response.read()
    connection.close()
    return status, json.loads(data or b"{}")


def test_acknowledged_events_survive_sigkill_exactly_once(cartpole_bundle, data):
    host = HostProcess(cartpole_bundle, data).start()
    _, session = post(host.port, "/api/v1/sessions", {"schema": 1, "experiment": "cartpole", "build_id": "b"})
    path = f"/api/v1/sessions/{session['session_id']}/events"
    acked: set[int] = set()
    stop = threading.Event()

    def client() -> None:
        """Like the browser outbox: send numbered batches, keep every unacknowledged event, retry."""
        pending = []
        next_seq = 1
        while not stop.is_set() or pending:
            while len(pending) < BATCH and not stop.is_set():
                pending.append(
                    {
                        "seq": next_seq,
                        "type": "step",
                        "t": time.time() * 1000,
                        "episode": 0,
                        "step": next_seq,
                        "actions": {"player": next_seq % 2},
                        "rewards": {"player": 1.0},
                    }
                )
                next_seq += 1
            try:
                status, reply = post(host.port, path, {"schema": 1, "events": pending}, session["token"])
            except OSError:
                time.sleep(0.05)  # the host is down: keep the batch and retry
                continue
            assert status == 200, reply
            acked.update(reply["acked"])
            pending = [e for e in pending if e["seq"] not in acked]

    sender = threading.Thread(target=client, daemon=True)  # a failed check must not leave it retrying forever
    sender.start()
    restarted = None
    try:
        deadline = time.monotonic() + 10
        while len(acked) < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        host.crash()  # SIGKILL to the server and its workers, mid-stream: batches are in flight
        acked_before_kill = set(acked)
        survived = {row[0] for row in rows(data, "SELECT seq FROM events")}  # what the dead host left stored
        assert len(acked_before_kill) >= 500
        assert acked_before_kill <= survived, f"{len(acked_before_kill - survived)} acknowledged events were lost"
        restarted = HostProcess(cartpole_bundle, data, port=host.port).start()
        deadline = time.monotonic() + 30  # the client resumes against the restarted host
        while len(acked) <= len(acked_before_kill) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        sender.join(30)
    counts = dict(rows(data, "SELECT seq, COUNT(*) FROM events GROUP BY seq"))
    restarted.stop()
    assert not sender.is_alive()
    assert set(counts.values()) == {1}
    assert acked <= set(counts) and len(acked) > len(acked_before_kill)


def test_batches_committed_together_stay_separate(data):
    """Group commit: concurrent batches share commits, but each is all or nothing on its own."""
    from concurrent.futures import ThreadPoolExecutor

    from gymcast.storage import NewSession, SeqConflict, open_store

    store = open_store(data)
    sessions = [f"{i:032x}" for i in range(8)]
    for session_id in sessions:
        store.create_session(NewSession(session_id, "x", "b", {}, "", time.time()))
    store.append_events(sessions[0], [{"seq": 1, "type": "step", "t": 1.0}])

    def send(job: tuple[str, int]) -> str:
        session_id, seq = job
        try:
            store.append_events(
                session_id, [{"seq": seq, "type": "step", "t": 2.0}, {"seq": seq + 1, "type": "x", "t": 2}]
            )
        except SeqConflict:
            return "conflict"
        return "ok"

    jobs = [(session_id, seq) for seq in range(2, 42, 2) for session_id in sessions[1:]] + [(sessions[0], 1)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, jobs))
    assert results[-1] == "conflict" and set(results[:-1]) == {"ok"}
    assert [e.seq for e in store.iter_events(sessions[0])] == [1]  # the conflicting batch wrote nothing
    for session_id in sessions[1:]:
        assert [e.seq for e in store.iter_events(session_id)] == list(range(2, 42))
