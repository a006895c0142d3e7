"""Attacks on a real host (`gymcast serve` on a socket), from issue 15: each test reproduces one finding.

Session takeover, client-chosen study parameters, serving files outside the bundle, missing limits
and headers. Completion codes are in test_completion_codes.py.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import HostProcess, dict_rows, gymcast_command
from gymcast.servers import redis_server
from gymcast.storage import SQLiteEventStore, open_store
from test_host import request, step_event


@pytest.fixture
def data(each_data):
    """The host tests here run on SQLite and on PostgreSQL."""
    return each_data


def bundle_copy(source: Path, target: Path, **flow) -> Path:
    """A copy of a bundle (files hard-linked) whose manifest's flow has `flow` set (e.g. conditions)."""
    shutil.copytree(source, target, copy_function=os.link)
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["flow"].update(flow)
    (target / "manifest.json").unlink()  # a hard link: write a new file, never the source's
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


@pytest.fixture
def study_host(cartpole_bundle, tmp_path, data):
    """A host whose bundle has two conditions, balanced assignment and no repeats."""
    bundle = bundle_copy(
        cartpole_bundle, tmp_path / "study", conditions=["a", "b"], assignment="balanced", allow_repeat=False
    )
    with HostProcess(bundle, data) as host:
        yield host


def post(host, path: str, body, token: str | None = None) -> tuple[int, dict]:
    response, data = request(host, "POST", path, body, token)
    return response.status, json.loads(data or b"{}")


#: What older pages sent besides the participant (the host now ignores these; the old host required them).
CLAIMS = {"experiment": "cartpole", "build_id": "b1"}


def join(host, participant: str, **extra) -> tuple[int, dict]:
    return post(host, "/api/v1/sessions", {"schema": 1, **CLAIMS, "participant_id": participant, **extra})


def append(host, session: dict, *events: dict) -> tuple[int, dict]:
    return post(
        host,
        f"/api/v1/sessions/{session['session_id']}/events",
        {"schema": 1, "events": list(events)},
        session["token"],
    )


def sessions(host) -> list[dict]:
    return dict_rows(host.data, "SELECT * FROM sessions ORDER BY created_at")


def secret() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


# --- Item 2: resuming needs proof of ownership ------------------------------------------------------


def test_a_participant_id_alone_does_not_hand_over_the_session(study_host):
    status, victim = join(study_host, "victim", session_id=uuid.uuid4().hex)
    assert status == 201
    status, attacker = join(study_host, "victim")  # the public id, without proof of owning the session
    assert status == 201 and not attacker["resumed"]
    assert attacker["session_id"] != victim["session_id"] and attacker["token"] != victim["token"]
    assert attacker["condition"] == victim["condition"]  # a second device stays in the participant's condition
    rows = {row["session_id"]: row for row in sessions(study_host)}
    assert rows[attacker["session_id"]]["duplicate_of"] == victim["session_id"]
    assert rows[victim["session_id"]]["duplicate_of"] is None
    # The real participant still resumes their own session with the token their device kept.
    status, again = join(study_host, "victim", session_id=victim["session_id"], resume_token=victim["token"])
    assert status == 200 and again["resumed"] and again["session_id"] == victim["session_id"]
    # The duplicate shows in the export.
    append(study_host, attacker, step_event(1))
    result = subprocess.run(
        gymcast_command("export", str(study_host.data), "--format", "jsonl"), capture_output=True, text=True
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("duplicate_of") for r in records if r["session_id"] == attacker["session_id"]] == [
        victim["session_id"]
    ]


def test_a_proposed_session_id_resumes_only_with_proof(study_host):
    _, owner = join(study_host, "owner", session_id=uuid.uuid4().hex)
    for proof in ({}, {"resume_token": "0" * 64}):
        status, reply = join(study_host, "owner", session_id=owner["session_id"], **proof)
        assert status == 409 and "token" not in reply, proof


def test_completing_a_duplicate_does_not_lock_the_participant_out(study_host):
    device = secret()
    _, victim = join(study_host, "locked", session_id=uuid.uuid4().hex, resume_secret=device)
    _, attacker = join(study_host, "locked")
    completion = {"seq": 1, "type": "completion", "t": 1.7e12}
    assert append(study_host, attacker, completion)[0] == 200  # a fake completion with the borrowed id
    status, again = join(study_host, "locked", session_id=victim["session_id"], resume_secret=device)
    assert status == 200 and again["session_id"] == victim["session_id"]
    assert append(study_host, victim, {**completion, "type": "scene_start"})[0] == 200


def test_the_device_secret_resumes_a_session(study_host):
    device = secret()
    _, owner = join(study_host, "device", session_id=uuid.uuid4().hex, resume_secret=device)
    assert join(study_host, "device", session_id=owner["session_id"], resume_secret=secret())[0] == 409
    status, again = join(study_host, "device", session_id=owner["session_id"], resume_secret=device)
    assert status == 200 and again["session_id"] == owner["session_id"] and again["token"] == owner["token"]


def test_the_same_seq_with_other_content_is_refused_not_dropped(study_host):
    _, session = join(study_host, "seqs")
    assert append(study_host, session, step_event(1), step_event(2))[0] == 200
    status, reply = append(study_host, session, step_event(2, actions={"player": 7}), step_event(3))
    assert status == 409 and "seq" in reply["error"]
    store = open_store(study_host.data)
    assert [(e.seq, e.data["actions"]) for e in store.iter_events(session["session_id"])] == [
        (1, {"player": 1}),
        (2, {"player": 0}),
    ]
    status, reply = append(study_host, session, step_event(2), step_event(3))  # an identical resend
    assert status == 200 and reply["acked"] == [2, 3]


def test_a_completed_session_takes_no_more_events(study_host):
    _, session = join(study_host, "done")
    completion = {"seq": 2, "type": "completion", "t": 1.7e12}
    assert append(study_host, session, step_event(1), completion)[0] == 200
    status, reply = append(study_host, session, {"seq": 3, "type": "survey", "t": 1.7e12, "answers": {"x": 1}})
    assert status == 409 and "completed" in reply["error"]
    assert append(study_host, session, completion)[0] == 200  # a resend of what is stored is still acknowledged


# --- Item 3: the host decides the study's parameters ------------------------------------------------


def test_a_client_cannot_choose_its_condition_repeat_policy_experiment_or_build(study_host):
    claims = {"conditions": ["attacker"], "assignment": "random", "experiment": "other", "build_id": "forged"}
    status, session = join(study_host, "chooser", allow_repeat=True, **claims)
    assert status == 201 and session["condition"] in ("a", "b")
    (row,) = sessions(study_host)
    assert (row["experiment"], row["build_id"]) == (
        "cartpole",
        json.loads((study_host.bundle / "manifest.json").read_text())["build_id"],
    )
    append(
        study_host,
        session,
        {"seq": 1, "type": "scene_start", "t": 1.7e12},
        {"seq": 2, "type": "completion", "t": 1.7e12},
    )
    status, reply = join(study_host, "chooser", allow_repeat=True)
    assert status == 409 and "already completed" in reply["error"]


def test_sessions_without_activity_do_not_steer_assignment(study_host):
    for number in range(30):  # bogus sessions that never take part
        join(study_host, f"bogus{number}", conditions=["a"])
    counts = {"a": 0, "b": 0}
    for number in range(10):
        status, session = join(study_host, f"real{number}")
        assert status == 201
        append(study_host, session, {"seq": 1, "type": "scene_start", "t": 1.7e12, "index": 0, "kind": "game"})
        counts[session["condition"]] += 1
    assert abs(counts["a"] - counts["b"]) <= 1, counts
    store = open_store(study_host.data)
    assert sum(store.condition_counts("cartpole", ["a", "b"], 0).values()) == 10


def test_condition_counts_use_an_index(tmp_path):
    from gymcast.storage.sqlite import ACTIVE_COUNTS

    SQLiteEventStore(tmp_path / "plan.sqlite")
    with sqlite3.connect(tmp_path / "plan.sqlite") as db:
        plan = " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + ACTIVE_COUNTS, ("x", 0.0)))
    assert "USING INDEX sessions_counted" in plan and "SCAN sessions" not in plan, plan


# --- Item 5: only the bundle's own files --------------------------------------------------------------


def get(host, path: str, headers: dict | None = None) -> tuple[int, bytes, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data, response


def test_only_files_the_manifest_lists_are_served(cartpole_bundle, tmp_path):
    bundle = bundle_copy(cartpole_bundle, tmp_path / "bundle")
    (bundle / ".env").write_text("SECRET_KEY=hunter2")
    (bundle / "notes.txt").write_text("private notes")
    SQLiteEventStore(bundle / "old.sqlite").host_secret()
    (bundle / "passwd").symlink_to("/etc/passwd")
    listed = next(path for path in json.loads((bundle / "manifest.json").read_text())["files"] if path.endswith(".js"))
    (bundle / listed).unlink()
    (bundle / listed).symlink_to("/etc/passwd")  # a listed path that leads out of the folder
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        for path in ("/.env", "/notes.txt", "/old.sqlite", "/old.sqlite-wal", "/passwd", "/" + listed):
            status, data, _ = get(host, path)
            assert status == 404 and b"root:" not in data and b"hunter2" not in data, path
        assert get(host, "/")[0] == 200 and get(host, "/manifest.json")[0] == 200
        status, _, response = get(host, "/sw.js", {"Accept-Encoding": "br"})
        assert status == 200


def test_serve_refuses_a_database_inside_the_bundle(cartpole_bundle, tmp_path):
    bundle = bundle_copy(cartpole_bundle, tmp_path / "bundle")
    result = subprocess.run(
        gymcast_command("serve", str(bundle), "--data", str(bundle / "gymcast.sqlite"), "--port", "1"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "inside the bundle folder" in result.stderr
    assert not (bundle / "gymcast.sqlite").exists()


def test_the_static_blueprint_does_not_import_the_bundler():
    code = "import sys, gymcast.server.static; print([m for m in sys.modules if m.startswith('gymcast.bundler')])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- Item 7: limits, strict types, headers -------------------------------------------------------------


def test_session_floods_from_one_address_get_a_429(host):
    statuses = [join(host, f"flood{n}")[0] for n in range(80)]
    assert statuses[:50] == [201] * 50 and 429 in statuses
    response, data = request(host, "POST", "/api/v1/sessions", {"schema": 1, **CLAIMS})
    assert (
        response.status == 429
        and int(response.getheader("Retry-After")) >= 1
        and "too many" in json.loads(data)["error"]
    )


def forwarded_join(host, participant: str, address: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    body = json.dumps({"schema": 1, **CLAIMS, "participant_id": participant}).encode()
    connection.request(
        "POST", "/api/v1/sessions", body=body, headers={"Content-Type": "application/json", "X-Forwarded-For": address}
    )
    status = connection.getresponse().status
    connection.close()
    return status


def test_behind_a_load_balancer_the_limits_count_each_participant_address_and_only_then(cartpole_bundle, data):
    """With --proxies 1 a balancer's X-Forwarded-For names the participant: 80 participants behind one balancer
    all get a session, and one address is still limited. Without it the header is ignored (a participant who sets
    it cannot dodge the limit)."""
    with HostProcess(cartpole_bundle, data, extra_args=("--proxies", "1")) as behind:
        assert [forwarded_join(behind, f"lb{n}", f"203.0.113.{n}") for n in range(80)] == [201] * 80
        assert 429 in [forwarded_join(behind, f"same{n}", "198.51.100.7") for n in range(80)]
    with HostProcess(cartpole_bundle, data) as direct:
        statuses = [forwarded_join(direct, f"spoof{n}", f"203.0.113.{n}") for n in range(80)]
        assert statuses[:50] == [201] * 50 and 429 in statuses


def _session_flood(hosts, prefix: str, rounds: int) -> tuple[list[int], float]:
    """Ask every host in turn for a new session, `rounds` times, from this one address; the statuses, and the
    seconds it took."""
    started = time.monotonic()
    statuses = [join(host, f"{prefix}{n}-{i}")[0] for n in range(rounds) for i, host in enumerate(hosts)]
    return statuses, time.monotonic() - started


def test_with_redis_every_worker_and_host_counts_one_set_of_limits(cartpole_bundle, tmp_path, redis_url):
    """Two hosts sharing a Redis, one with two workers: an address gets one burst of sessions between them (60,
    plus 0.5 a second), not one per process."""
    data = tmp_path / "logs.sqlite"
    shared = ("--redis", redis_url)
    with (
        HostProcess(cartpole_bundle, data, extra_args=(*shared, "--workers", "2")) as first,
        HostProcess(cartpole_bundle, data, extra_args=shared) as second,
    ):
        statuses, took_s = _session_flood([first, second], "shared", 60)
    assert set(statuses) == {201, 429}
    assert 60 <= statuses.count(201) <= 60 + 0.5 * took_s + 1, (statuses.count(201), took_s)


def test_while_redis_is_away_each_process_limits_on_its_own(cartpole_bundle, tmp_path):
    """Redis stops under a running host: requests are still answered, and a flood is still refused (by the
    process's own buckets); the host logs why."""
    with redis_server() as url:
        host = HostProcess(cartpole_bundle, tmp_path / "logs.sqlite", extra_args=("--redis", url)).start()
    try:
        statuses, _ = _session_flood([host], "away", 80)
        assert statuses[:50] == [201] * 50 and 429 in statuses and set(statuses) == {201, 429}
    finally:
        host.stop()
    assert "Redis does not answer" in host.process.stderr.read()


def test_a_session_has_a_byte_quota(host):
    _, session = join(host, "heavy")
    filler = "x" * 60_000
    statuses = []
    for batch in range(20):
        events = [step_event(batch * 30 + n + 1, note=filler) for n in range(30)]  # about 1.8 MB
        statuses.append(append(host, session, *events)[0])
    assert statuses[0] == 200 and statuses[-1] == 429, statuses


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"url_params": {f"k{n}": "v" for n in range(40)}}, "url_params"),
        ({"url_params": {"PROLIFIC_PID": "x" * 300_000}}, "url_params"),
    ],
)
def test_session_fields_are_capped_and_typed(host, body, words):
    status, reply = post(host, "/api/v1/sessions", {"schema": 1, **CLAIMS, **body})
    assert status == 400 and words in reply["error"]
    assert sessions(host) == []


@pytest.mark.parametrize(
    "change",
    [
        {"seq": "5"},
        {"seq": 6.0},
        {"seq": True},
        {"step": 2.0},
        {"actions": {"player": float("nan")}},
        {"actions": {"player": [1, {"x": float("inf")}]}},
        {"custom": {"deep": [float("-inf")]}},
        {"note": "x" * 70_000},
    ],
)
def test_event_types_are_strict_and_numbers_finite(host, change):
    _, session = join(host, "strict")
    payload = json.dumps({"schema": 1, "events": [{**step_event(1), **change}]}, allow_nan=True).encode()
    response, data = request(
        host, "POST", f"/api/v1/sessions/{session['session_id']}/events", raw=payload, token=session["token"]
    )
    assert response.status == 400, data
    assert open_store(host.data).next_seq(session["session_id"]) == 1


def chunked_post(port: int, path: str, body: bytes, content_type: str = "application/json") -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
        connection.sendall(head.encode())
        try:
            for start in range(0, len(body), 65536):
                chunk = body[start : start + 65536]
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the host answered early and closed
        reply = connection.recv(4096).decode(errors="replace")
    return int(reply.split()[1])


def test_a_chunked_body_over_the_cap_gets_a_413(host):
    assert chunked_post(host.port, "/api/v1/sessions", b" " * (3 * 1024 * 1024)) == 413
    assert chunked_post(host.port, "/api/v1/sessions", json.dumps({"schema": 1, **CLAIMS}).encode()) == 201


def test_a_cross_site_text_plain_post_is_refused(host):
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    body = json.dumps({"schema": 1, **CLAIMS, "participant_id": "csrf"})
    connection.request("POST", "/api/v1/sessions", body=body, headers={"Content-Type": "text/plain"})
    response = connection.getresponse()
    assert response.status == 415 and "application/json" in json.loads(response.read())["error"]
    assert sessions(host) == []


def test_security_headers(host):
    _, _, page = get(host, "/?PROLIFIC_PID=p")
    policy = page.getheader("Content-Security-Policy")
    for part in ("default-src 'self'", "'wasm-unsafe-eval'", "frame-ancestors 'none'", "object-src 'none'"):
        assert part in policy
    assert "'unsafe-eval'" not in policy.replace("'wasm-unsafe-eval'", "")
    assert page.getheader("Referrer-Policy") == "no-referrer" and page.getheader("X-Content-Type-Options") == "nosniff"
    assert page.getheader("Server") == "gymcast"
    response, _ = request(host, "POST", "/api/v1/sessions", {"schema": 1, **CLAIMS})
    assert (
        response.getheader("Cache-Control") == "no-store" and response.getheader("X-Content-Type-Options") == "nosniff"
    )
    assert response.getheader("Server") == "gymcast"


def test_the_access_log_has_no_query_strings(cartpole_bundle, tmp_path):
    host = HostProcess(cartpole_bundle, tmp_path / "logs.sqlite").start()
    get(host, "/?PROLIFIC_PID=p5ecret&STUDY_ID=s")
    get(host, "/manifest.json?PROLIFIC_PID=p5ecret")
    host.stop()
    log = host.process.stderr.read()
    assert "GET / HTTP/1.1" in log and "GET /manifest.json HTTP/1.1" in log
    assert "p5ecret" not in log


def test_the_database_is_private(host):
    if not isinstance(host.data, Path):
        pytest.skip("a PostgreSQL database's access is the database server's to grant")
    assert stat.S_IMODE(host.data.stat().st_mode) == 0o600


def test_a_data_folder_that_cannot_be_written_is_a_clear_error(cartpole_bundle, tmp_path):
    result = subprocess.run(
        gymcast_command("serve", str(cartpole_bundle), "--data", "/sys/gymcast-test.sqlite", "--port", "1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot use /sys/gymcast-test.sqlite" in result.stderr
    assert "Traceback" not in result.stderr


def concurrently(count: int, call) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = call(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_creates_with_one_session_id_never_fail(study_host):
    session_id, device = uuid.uuid4().hex, secret()
    replies = concurrently(8, lambda _: join(study_host, "racer", session_id=session_id, resume_secret=device))
    assert sorted(status for status, _ in replies) == [200] * 7 + [201]
    assert {reply["session_id"] for _, reply in replies} == {session_id}
    others = concurrently(8, lambda _: join(study_host, "racer2", session_id=session_id, resume_secret=secret()))
    assert {status for status, _ in others} == {409}
    assert len(sessions(study_host)) == 1


def test_concurrent_creates_without_a_session_id_give_one_session_per_participant(study_host):
    replies = concurrently(8, lambda _: join(study_host, "twin"))
    assert all(status == 201 for status, _ in replies)
    rows = sessions(study_host)
    (first,) = [row for row in rows if row["duplicate_of"] is None]
    assert all(row["duplicate_of"] == first["session_id"] for row in rows if row is not first)
    assert {row["condition"] for row in rows} == {first["condition"]}
