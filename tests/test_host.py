"""The Flask host over a real socket: bundle serving, the log API, SQLite storage, export."""

from __future__ import annotations

import http.client
import json
import subprocess

import pytest

from conftest import HostProcess, gymcast_command, rows


@pytest.fixture
def data(each_data):
    """Every test here runs on SQLite and on PostgreSQL."""
    return each_data


def request(host, method: str, path: str, body=None, token: str | None = None, raw: bytes | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def new_session(host) -> dict:
    response, data = request(
        host,
        "POST",
        "/api/v1/sessions",
        {"schema": 1, "experiment": "cartpole", "build_id": "b1", "url_params": {"PROLIFIC_PID": "abc"}},
    )
    assert response.status == 201, data
    return json.loads(data)


def step_event(seq: int, **extra) -> dict:
    return {
        "seq": seq,
        "type": "step",
        "t": 1.7e12 + seq,
        "episode": 0,
        "step": seq,
        "actions": {"player": seq % 2},
        "rewards": {"player": 1.0},
        "terminated": False,
        "truncated": False,
        **extra,
    }


def stored_seqs(host, session_id: str) -> list[int]:
    return [
        row[0] for row in rows(host.data, "SELECT seq FROM events WHERE session_id = ? ORDER BY seq", (session_id,))
    ]


@pytest.mark.parametrize(
    ("suffix", "mime"),
    [
        (".wasm", "application/wasm"),
        (".mjs", "text/javascript"),
        (".whl", "application/zip"),
        ("pyodide-lock.json", "application/json"),
    ],
)
def test_bundle_files_have_the_right_mime_type_and_immutable_caching(host, cartpole_bundle, suffix, mime):
    manifest = json.loads((cartpole_bundle / "manifest.json").read_text())
    path = next(p for p in manifest["files"] if p.endswith(suffix))
    response, data = request(host, "GET", "/" + path)
    assert response.status == 200
    assert response.getheader("Content-Type").startswith(mime)
    assert "immutable" in response.getheader("Cache-Control")
    assert len(data) == manifest["files"][path]["size"]


@pytest.mark.parametrize("path", ["/", "/manifest.json"])
def test_entry_files_are_revalidated(host, path):
    response, _ = request(host, "GET", path)
    assert response.status == 200
    assert response.getheader("Cache-Control") == "no-cache"
    assert response.getheader("Content-Type") in ("text/html; charset=utf-8", "application/json")


@pytest.mark.parametrize(
    "path",
    [
        "/../conftest.py",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/runtime/..%2f..%2fetc/passwd",
        "/packages/../../logs.sqlite",
        "/etc/passwd",
        "//etc/passwd",
    ],
)
def test_no_directory_traversal(host, path):
    response, data = request(host, "GET", path)
    assert response.status == 404
    assert b"root:" not in data


def test_batches_are_acknowledged_stored_and_deduplicated(host):
    session = new_session(host)
    events = [step_event(seq) for seq in range(1, 11)]
    path = f"/api/v1/sessions/{session['session_id']}/events"
    response, data = request(host, "POST", path, {"schema": 1, "events": events}, session["token"])
    assert response.status == 200
    assert json.loads(data)["acked"] == list(range(1, 11))
    # The outbox retries a batch whose acknowledgement was lost: nothing is stored twice.
    response, data = request(
        host, "POST", path, {"schema": 1, "events": events[5:] + [step_event(11)]}, session["token"]
    )
    assert json.loads(data)["acked"] == list(range(6, 12))
    assert stored_seqs(host, session["session_id"]) == list(range(1, 12))


def test_a_session_accepts_only_its_own_token(host):
    mine, theirs = new_session(host), new_session(host)
    path = f"/api/v1/sessions/{theirs['session_id']}/events"
    response, data = request(host, "POST", path, {"schema": 1, "events": [step_event(1)]}, mine["token"])
    assert response.status == 403
    assert "token" in json.loads(data)["error"]
    response, _ = request(host, "POST", path, {"schema": 1, "events": [step_event(1)]})
    assert response.status == 403
    assert stored_seqs(host, theirs["session_id"]) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"schema": 2, "events": [step_event(1)]}, "schema"),
        ({"schema": 1, "events": []}, "events"),
        ({"schema": 1, "events": [step_event(1), step_event(0)]}, "events.1.seq"),
        ({"schema": 1, "events": [step_event(1), {**step_event(2), "type": "DROP TABLE"}]}, "events.1.type"),
        (
            {"schema": 1, "events": [step_event(1), {**step_event(2), "rewards": {"player": "lots"}}]},
            "events.1.rewards",
        ),
        ({"schema": 1, "events": [step_event(1), step_event(1)]}, "repeats a seq"),
        ({"schema": 1, "events": [step_event(1)], "extra": 1}, "extra"),
    ],
)
def test_bad_batches_get_a_400_naming_the_problem_and_write_nothing(host, body, words):
    session = new_session(host)
    response, data = request(host, "POST", f"/api/v1/sessions/{session['session_id']}/events", body, session["token"])
    assert response.status == 400
    assert words in json.loads(data)["error"]
    assert stored_seqs(host, session["session_id"]) == []


def test_malformed_json_and_oversized_bodies_are_4xx(host):
    session = new_session(host)
    path = f"/api/v1/sessions/{session['session_id']}/events"
    response, data = request(host, "POST", path, raw=b"{not json", token=session["token"])
    assert response.status == 400 and "error" in json.loads(data)
    response, data = request(host, "POST", path, raw=b"x" * (3 * 1024 * 1024), token=session["token"])
    assert response.status == 413 and "error" in json.loads(data)
    response, data = request(host, "POST", "/api/v1/sessions/nope/events", {"schema": 1, "events": [step_event(1)]})
    assert response.status == 404 and "'nope' is not a session id" in json.loads(data)["error"]
    unknown = f"/api/v1/sessions/{'0' * 32}/events"
    response, data = request(host, "POST", unknown, {"schema": 1, "events": [step_event(1)]})
    assert response.status == 404 and "unknown session" in json.loads(data)["error"]


def test_export_jsonl_writes_one_object_per_event(host):
    session = new_session(host)
    request(
        host,
        "POST",
        f"/api/v1/sessions/{session['session_id']}/events",
        {"schema": 1, "events": [step_event(1), step_event(2, terminated=True)]},
        session["token"],
    )
    result = subprocess.run(
        gymcast_command("export", str(host.data), "--format", "jsonl"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["seq"] for r in records] == [1, 2]
    last = records[-1]
    assert last["session_id"] == session["session_id"]
    assert (last["episode"], last["step"], last["actions"], last["rewards"]) == (0, 2, {"player": 0}, {"player": 1.0})
    assert (last["terminated"], last["truncated"]) == (True, False)
    assert last["wall_time"].startswith("20")


def test_the_host_secret_is_generated_per_database_not_a_default(host, tmp_path):
    from gymcast.storage import SQLiteEventStore, open_store

    assert open_store(host.data).host_secret() != SQLiteEventStore(tmp_path / "other.sqlite").host_secret()


@pytest.mark.parametrize(
    ("accept", "encoding"), [("gzip, deflate, br", "br"), ("gzip", "gzip"), ("", None), ("identity", None)]
)
def test_precompressed_copies_are_served_when_accepted(host, cartpole_bundle, accept, encoding):
    import gzip

    import brotli

    manifest = json.loads((cartpole_bundle / "manifest.json").read_text())
    path = next(p for p in manifest["files"] if p.endswith("pyodide.asm.wasm"))
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    connection.request("GET", "/" + path, headers={"Accept-Encoding": accept} if accept else {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200 and response.getheader("Content-Type") == "application/wasm"
    assert response.getheader("Content-Encoding") == encoding
    assert "Accept-Encoding" in response.getheader("Vary")
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: lambda data: data}[encoding](body)
    assert decoded == (cartpole_bundle / path).read_bytes()
    if encoding:
        assert len(body) < manifest["files"][path]["size"] / 2


def test_health_and_readiness_answer_and_connections_are_kept_alive(host):
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    for path in ("/healthz", "/readyz", "/readyz"):  # one connection for all three: keep-alive
        connection.request("GET", path)
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["ok"]) == (200, True)
        assert response.getheader("Connection", "").lower() != "close"
    connection.close()


def test_several_workers_share_one_database(cartpole_bundle, data):
    """Two gunicorn workers: sessions made by one are accepted by the other (the token secret is shared
    through the storage), and batches sent twice, to either worker, are stored once."""
    from concurrent.futures import ThreadPoolExecutor

    with HostProcess(cartpole_bundle, data, extra_args=("--workers", "2")) as host:

        def send(session: dict) -> None:
            path = f"/api/v1/sessions/{session['session_id']}/events"
            for _ in range(2):  # the same batch twice, on new connections (either worker may take each)
                body = {"schema": 1, "events": [step_event(1), step_event(2)]}
                response, reply = request(host, "POST", path, body, session["token"])
                assert response.status == 200, reply

        sessions: list[dict] = []
        for _ in range(30):  # parallel connections until both workers have served events
            batch = [new_session(host) for _ in range(8)]
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(send, batch))
            sessions += batch
            if len(worker_pids(host, "/events")) == 2:
                break
        assert len(worker_pids(host, "/events")) == 2, "one worker took every connection"
    for session in sessions:
        assert stored_seqs(host, session["session_id"]) == [1, 2]


def worker_pids(host: HostProcess, path_part: str) -> set[str]:
    """The worker processes whose access log shows a POST whose path contains `path_part`."""
    pids = set()
    for line in host.process.stderr.read().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry["request"].startswith("POST ") and path_part in entry["request"]:
                pids.add(entry["pid"])
    return pids


def test_several_workers_are_refused_for_a_bundle_with_networked_games(tmp_path):
    from test_relay import relay_bundle

    bundle = relay_bundle(tmp_path / "bundle")
    result = subprocess.run(
        gymcast_command("serve", str(bundle), "--workers", "2", "--data", str(tmp_path / "l.sqlite"), "--port", "1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "--workers 1" in result.stderr, result.stderr
