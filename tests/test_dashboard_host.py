"""The dashboard's access rules, API and actions against a real `gymcast serve` (no browser)."""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import admin_token
from gymcast.contracts import LOG_SCHEMA
from gymcast.experiment.loader import load_experiment
from gymcast.testing import HostProcess, manifest_only_bundle

STUDY = Path(__file__).resolve().parents[1] / "examples" / "study"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return manifest_only_bundle(tmp_path_factory.mktemp("dash") / "bundle", load_experiment(STUDY).experiment)


@pytest.fixture
def data(each_data):
    """Every test here runs on SQLite and on PostgreSQL (the token, the admin log and the API from either)."""
    return each_data


@pytest.fixture
def host(bundle, data):
    with HostProcess(bundle, data) as server:
        yield server


def call(url: str, body: dict | None = None, headers: dict[str, str] | None = None, opener=None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json", **(headers or {})})
    try:
        with (opener or urllib.request.build_opener()).open(request) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


DEVICES: dict[tuple[str, str], str] = {}  # (host, participant) -> the session id their device last got


def new_session(host: HostProcess, participant: str) -> tuple[int, dict]:
    """Register as the participant's own device would: with its resume secret and its last session id."""
    body = {
        "schema": LOG_SCHEMA,
        "participant_id": participant,
        "resume_secret": hashlib.sha256(participant.encode()).hexdigest(),
    }
    if (host.url, participant) in DEVICES:
        body["session_id"] = DEVICES[(host.url, participant)]
    status, reply = call(host.url + "/api/v1/sessions", body)
    if "session_id" in reply:
        DEVICES[(host.url, participant)] = reply["session_id"]
    return status, reply


def complete(host: HostProcess, reply: dict) -> None:
    events = {
        "schema": LOG_SCHEMA,
        "events": [{"seq": reply["next_seq"], "type": "completion", "t": time.time() * 1000}],
    }
    status, _ = call(
        f"{host.url}/api/v1/sessions/{reply['session_id']}/events",
        events,
        {"Authorization": f"Bearer {reply['token']}"},
    )
    assert status == 200


def login(host: HostProcess, token: str):
    """An opener holding a login cookie, and the page's CSRF token."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{host.url}/admin/login?token={token}") as response:
        assert response.url == f"{host.url}/admin/"
        page = response.read().decode()
    assert token not in page
    return opener, re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)


def test_the_token_is_made_once_per_database_and_printed_once(bundle, data, tmp_path):
    first = HostProcess(bundle, data).start()
    first.stop()
    printed = first.process.stderr.read()
    token = admin_token(data)
    assert f"/admin/login#token={token}" in printed.replace("\n", "")
    second = HostProcess(bundle, data).start()
    second.stop()
    again = second.process.stderr.read()
    assert token not in again and "admin-token" in again
    assert admin_token(tmp_path / "b.sqlite") != token and admin_token(data) == token
    assert admin_token(data, "--rotate") != token


def test_csrf_and_origin_are_checked_for_actions(host):
    opener, csrf = login(host, admin_token(host.data))
    url = f"{host.url}/admin/api/recruitment"
    assert call(url, {"open": False}, opener=opener)[0] == 403  # no CSRF token
    assert call(url, {"open": False}, {"X-CSRF-Token": "0" * 64}, opener=opener)[0] == 403
    assert call(url, {"open": False}, {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}, opener=opener)[0] == 403
    assert call(url, {"open": False}, {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}, opener=opener)[0] == 403
    assert call(host.url + "/admin/api/overview", opener=opener)[1]["recruitment_open"] is True
    status, reply = call(url, {"open": False}, {"X-CSRF-Token": csrf, "Origin": host.url}, opener=opener)
    assert status == 200 and reply == {"recruitment_open": False}


def test_closed_recruitment_turns_new_participants_away_and_lets_others_finish(host):
    bearer = {"Authorization": f"Bearer {admin_token(host.data)}"}
    status, inside = new_session(host, "inside")
    assert status == 201
    assert call(f"{host.url}/admin/api/recruitment", {"open": False}, bearer)[0] == 200
    status, reply = new_session(host, "newcomer")
    assert status == 403 and "not taking participants" in reply["error"]
    status, resumed = new_session(host, "inside")
    assert status == 200 and resumed["resumed"] and resumed["session_id"] == inside["session_id"]
    complete(host, resumed)
    assert call(f"{host.url}/admin/api/recruitment", {"open": True}, bearer)[0] == 200
    assert new_session(host, "newcomer")[0] == 201
    actions = [a["type"] for a in call(f"{host.url}/admin/api/actions", headers=bearer)[1]["actions"]]
    assert actions == ["recruitment_closed", "recruitment_opened"]
    overview = call(f"{host.url}/admin/api/overview", headers=bearer)[1]
    assert overview["states"]["completed"] == 1 and overview["states"]["loading"] == 1


def test_a_participant_can_be_let_back_in_once(host):
    bearer = {"Authorization": f"Bearer {admin_token(host.data)}"}
    status, first = new_session(host, "again")
    complete(host, first)
    assert new_session(host, "again")[0] == 409
    status, reply = call(f"{host.url}/admin/api/participants/{first['session_id']}/retake", {}, bearer)
    assert status == 200 and reply["retake_allowed"]["participant_id"] == "again"
    status, second = new_session(host, "again")
    assert status == 201 and second["session_id"] != first["session_id"]
    complete(host, second)
    assert new_session(host, "again")[0] == 409  # the grant was for one more time


def test_ending_an_unknown_group_is_logged_and_answers_404(host):
    bearer = {"Authorization": f"Bearer {admin_token(host.data)}"}
    assert call(f"{host.url}/admin/api/groups/nogroup/end", {}, bearer)[0] == 404
    (action,) = call(f"{host.url}/admin/api/actions", headers=bearer)[1]["actions"]
    assert action["type"] == "group_ended" and action["actor"].startswith("bearer from")


def test_the_multiplayer_view_shows_the_waiting_room_and_groups_and_a_stuck_group_can_be_ended(data, tmp_path):
    from relay_client import RelayClient, create_session
    from test_relay import experiment

    bundle = manifest_only_bundle(tmp_path / "bundle", experiment())
    with HostProcess(bundle, data) as host:
        bearer = {"Authorization": f"Bearer {admin_token(host.data)}"}
        first = RelayClient(host.url, create_session(host.url))
        first.expect("waiting")
        view = call(f"{host.url}/admin/api/multiplayer", headers=bearer)[1]
        assert [w["session_id"] for w in view["waiting"]] == [first.session_id] and not view["playing"]
        waiting = call(f"{host.url}/admin/api/participants", headers=bearer)[1]["participants"]
        assert {p["session_id"]: p["state"] for p in waiting}[first.session_id] == "waiting"
        second = RelayClient(host.url, create_session(host.url))
        group_id = first.expect("matched")["group_id"]
        second.expect("matched")
        view = call(f"{host.url}/admin/api/multiplayer", headers=bearer)[1]
        (group,) = view["playing"]
        assert not view["waiting"] and group["group_id"] == group_id and group["input_delay"] >= 1
        assert group["members"] == {"left": first.session_id, "right": second.session_id}
        assert set(group["rtt_ms"]) == {first.session_id, second.session_id} and group["live"]["ended"] is False

        status, reply = call(f"{host.url}/admin/api/groups/{group_id}/end", {}, bearer)
        assert status == 200 and reply == {"ended": True}
        for client in (first, second):
            assert client.expect("end")["reason"] == "ended_by_researcher"
        view = call(f"{host.url}/admin/api/multiplayer", headers=bearer)[1]
        assert not view["playing"] and view["ended"][0]["ended"]["reason"] == "ended_by_researcher"
        (action,) = call(f"{host.url}/admin/api/actions", headers=bearer)[1]["actions"]
        assert action["type"] == "group_ended" and action["data"] == {"group_id": group_id, "live": True}
        first.close()
        second.close()


def test_the_manifest_is_parsed_once_not_on_every_poll(bundle, tmp_path, monkeypatch):
    from gymcast.manifest import BundleManifest
    from gymcast.server import create_app
    from gymcast.storage import SQLiteEventStore

    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    app = create_app(bundle, store)
    parses = []
    parse = BundleManifest.from_json.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        BundleManifest, "from_json", classmethod(lambda cls, data: parses.append(1) or parse(cls, data))
    )
    bearer = {"Authorization": f"Bearer {store.admin_token()[0]}"}
    client = app.test_client()
    for _ in range(3):
        response = client.get("/admin/api/overview", headers=bearer)
        assert response.status_code == 200 and response.json["experiment"] == "twin_study"
    assert client.get("/admin/replay", headers=bearer).status_code in (200, 303)
    assert parses == []


def test_the_dashboards_storage_behaves_alike_on_both_storages(data):
    from gymcast.storage import NewSession, open_store

    store = open_store(data)
    token, created = store.admin_token()
    assert created and store.admin_token() == (token, False) and open_store(data).admin_token() == (token, False)
    rotated, created = store.admin_token(rotate=True)
    assert created and rotated != token and store.admin_token() == (rotated, False)

    store.append_admin_event("login_failed", "form from 10.0.0.1", {"addr": "10.0.0.1"})
    middle = time.time()
    time.sleep(0.01)
    store.append_admin_event("login", "login 1 from 10.0.0.2", {})
    store.append_admin_event("login_failed", "form from 10.0.0.3", {"addr": "10.0.0.3"})
    assert [(e.type, e.actor) for e in store.iter_admin_events()] == [
        ("login_failed", "form from 10.0.0.1"),
        ("login", "login 1 from 10.0.0.2"),
        ("login_failed", "form from 10.0.0.3"),
    ]
    assert [e.data for e in store.iter_admin_events(since=middle, kind="login_failed")] == [{"addr": "10.0.0.3"}]

    for session_id in ("a", "b"):
        store.create_session(NewSession(session_id, "x", "b", {}, "", time.time()))
    store.append_events("a", [{"seq": 1, "type": "page", "t": 1.0}, {"seq": 2, "type": "step", "t": 2.0}])
    store.append_events("b", [{"seq": 1, "type": "step", "t": 1.0}, {"seq": 2, "type": "survey", "t": 2.0}])
    assert [(e.session_id, e.seq) for e in store.iter_events_except(("step",))] == [("a", 1), ("b", 2)]
    assert len(list(store.iter_events_except(()))) == 4
    times = store.last_event_times()
    assert set(times) == {"a", "b"} and all(middle < at <= time.time() for at in times.values())


def test_a_session_that_ended_by_an_error_shows_as_such(host):
    bearer = {"Authorization": f"Bearer {admin_token(host.data)}"}
    _, broken = new_session(host, "broken")
    error = {"seq": broken["next_seq"], "type": "error", "t": time.time() * 1000, "stage": "play", "message": "boom"}
    status, _ = call(
        f"{host.url}/api/v1/sessions/{broken['session_id']}/events",
        {"schema": LOG_SCHEMA, "events": [error]},
        {"Authorization": f"Bearer {broken['token']}"},
    )
    assert status == 200
    (entry,) = [p for p in call(f"{host.url}/admin/api/participants", headers=bearer)[1]["participants"]]
    assert entry["state"] == "ended_by_error" and entry["errored_at"] is not None
    overview = call(f"{host.url}/admin/api/overview", headers=bearer)[1]
    assert overview["states"]["ended_by_error"] == 1 and overview["errors"]["latest"][0]["message"] == "boom"
