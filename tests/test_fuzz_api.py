"""Fuzzing the log API over a real socket: never a 5xx, and nothing written for a rejected request."""

from __future__ import annotations

import http.client
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import STORAGES, HostProcess, admin_token, fresh_data, rows

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(exclude_categories=[]), max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
FIELDS = ["seq", "type", "t", "episode", "step", "actions", "rewards", "terminated", "truncated", "extra"]


def valid_event(seq: int) -> dict:
    return {
        "seq": seq,
        "type": "step",
        "t": 1.7e12,
        "episode": 0,
        "step": seq,
        "actions": {"player": 1},
        "rewards": {"player": 1.0},
        "terminated": False,
        "truncated": False,
    }


@st.composite
def event_batches(draw) -> object:
    """Valid batches with some fields replaced by arbitrary JSON, or arbitrary JSON altogether."""
    if draw(st.booleans()):
        return draw(JSON)
    events = [valid_event(seq) for seq in range(1, draw(st.integers(1, 4)) + 1)]
    for _ in range(draw(st.integers(0, 3))):
        event = draw(st.sampled_from(events))
        event[draw(st.sampled_from(FIELDS))] = draw(JSON)
    body = {"schema": draw(st.sampled_from([1, 1, 1, 2, "1", None])), "events": events}
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=6))] = draw(JSON)
    return body


def send(port: int, method: str, path: str, payload: bytes, token: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    result = response.status, response.read()
    connection.close()
    return result


def count(db, table: str) -> int:
    return rows(db, f"SELECT COUNT(*) FROM {table}")[0][0]


@pytest.fixture(scope="module", params=STORAGES)
def fuzz_host(cartpole_bundle, tmp_path_factory, request):
    fuzz_data = fresh_data(request, tmp_path_factory.mktemp("fuzz"))
    with HostProcess(
        cartpole_bundle, fuzz_data, extra_args=("--no-rate-limits",)
    ) as host:  # fuzz the checks, not the limits
        status, data = send(
            host.port,
            "POST",
            "/api/v1/sessions",
            json.dumps({"schema": 1, "experiment": "x", "build_id": "b"}).encode(),
        )
        assert status == 201
        yield host, json.loads(data)


def dumps(body: object) -> bytes:
    return json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=event_batches())
@example(body={"schema": 1, "events": [{**valid_event(1), "episode": 2**70}]})
@example(body={"schema": 1, "events": [{**valid_event(1), "step": -1}]})
@example(body={"schema": 1, "events": [{**valid_event(1), "t": float("inf")}]})
@example(body={"schema": 1, "events": [{**valid_event(1), "rewards": {"player": float("nan")}}]})
@example(body={"schema": 1, "events": [{**valid_event(1), "custom": {"x": [float("-inf")]}}]})
@example(body={"schema": 1, "events": [{**valid_event(1), "note": "\ud800"}]})
def test_event_ingestion_never_fails_and_never_writes_rejected_batches(fuzz_host, body):
    host, session = fuzz_host
    before = count(host.data, "events")
    status, reply = send(
        host.port, "POST", f"/api/v1/sessions/{session['session_id']}/events", dumps(body), session["token"]
    )
    assert status < 500, reply
    if status == 200:
        acked = json.loads(reply)["acked"]
        assert acked == [event["seq"] for event in body["events"]]
    else:
        assert 400 <= status < 500 and "error" in json.loads(reply)
        assert count(host.data, "events") == before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.fixed_dictionaries(
        {"schema": st.just(1)},
        optional={
            "experiment": JSON,
            "build_id": JSON,
            "url_params": JSON,
            "user_agent": JSON,
            "participant_id": JSON,
            "session_id": JSON,
            "resume_token": JSON,
            "other": JSON,
        },
    )
    | JSON
)
@example(body={"schema": 1, "participant_id": "p\x00"})  # PostgreSQL text cannot hold NUL
@example(body={"schema": 1, "user_agent": "agent\x00"})
@example(body={"schema": 1, "url_params": {"PROLIFIC_PID": "\x00", "\x00": "x"}})
def test_session_creation_never_fails(fuzz_host, body):
    host, _ = fuzz_host
    before = count(host.data, "sessions")
    status, reply = send(host.port, "POST", "/api/v1/sessions", dumps(body))
    assert status < 500, reply
    assert count(host.data, "sessions") == before + (status == 201)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200), session_id=st.text(alphabet="abcdef0123456789%./", max_size=40))
@example(raw=b"", session_id="%00")  # a NUL that PostgreSQL would refuse
@example(raw=b"", session_id="0" * 31 + "%00")
def test_raw_bytes_and_odd_paths_never_fail(fuzz_host, raw, session_id):
    host, session = fuzz_host
    status, _ = send(host.port, "POST", f"/api/v1/sessions/{session_id or 'x'}/events", raw, session["token"])
    assert status < 500


def test_a_malformed_session_id_is_a_clear_4xx_on_every_route_that_takes_one(fuzz_host):
    """Every route that names a session refuses an id that is not 32 hex digits before it reaches the store."""
    host, session = fuzz_host
    admin = admin_token(host.data)
    for method, path, token in [
        ("POST", "/api/v1/sessions/%00/events", session["token"]),
        ("POST", "/api/v1/sessions/%00/completion", session["token"]),
        ("GET", "/admin/api/participants/%00", admin),
        ("GET", "/admin/api/episodes/%00", admin),
        ("POST", "/admin/api/participants/%00/retake", admin),
    ]:
        status, reply = send(host.port, method, path, b"{}", token)
        assert status == 404 and "error" in json.loads(reply), (path, status, reply)
    status, reply = send(host.port, "GET", "/admin/api/download/jsonl?session=%00", b"", admin)
    assert status == 400 and "32 hex digits" in json.loads(reply)["error"], reply
