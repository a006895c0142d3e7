"""Condition assignment and participant rules of the host, over a real socket."""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import HostProcess
from test_host import request
from test_security_host import bundle_copy


@pytest.fixture
def data(each_data):
    """Every test here runs on SQLite and on PostgreSQL."""
    return each_data


CONDITIONS = {"conditions": ["a", "b"], "assignment": "balanced", "allow_repeat": False}


@pytest.fixture
def host(cartpole_bundle, tmp_path, data):
    """The host decides conditions and repeats from its bundle, so the bundle has them (not the request)."""
    with HostProcess(bundle_copy(cartpole_bundle, tmp_path / "study", **CONDITIONS), data) as host:
        yield host


def join(host, participant: str, **extra) -> tuple[int, dict]:
    response, data = request(
        host,
        "POST",
        "/api/v1/sessions",
        {"schema": 1, "participant_id": participant, **extra},
    )
    return response.status, json.loads(data)


def complete(host, session: dict) -> None:
    response, _ = request(
        host,
        "POST",
        f"/api/v1/sessions/{session['session_id']}/events",
        {
            "schema": 1,
            "events": [{"seq": 1, "type": "scene_start", "t": 1.7e12}, {"seq": 2, "type": "completion", "t": 1.7e12}],
        },
        session["token"],
    )
    assert response.status == 200


def test_balanced_assignment_over_twenty_participants_differs_by_at_most_one(host):
    counts = {"a": 0, "b": 0}
    for number in range(20):
        status, session = join(host, f"sim{number:02d}")
        assert status == 201
        counts[session["condition"]] += 1
        complete(host, session)
        assert abs(counts["a"] - counts["b"]) <= 1
    assert counts == {"a": 10, "b": 10}


def test_a_completed_participant_is_refused_and_an_unfinished_one_resumes(host):
    device = uuid.uuid4().hex  # the resume secret the device keeps: resuming needs it
    status, first = join(host, "returning", session_id=uuid.uuid4().hex, resume_secret=device)
    assert status == 201 and first["next_seq"] == 1
    status, again = join(host, "returning", session_id=first["session_id"], resume_secret=device)  # a reload
    assert status == 200 and again["resumed"]
    assert (again["session_id"], again["condition"]) == (first["session_id"], first["condition"])
    complete(host, first)
    status, refused = join(host, "returning")
    assert status == 409 and "already completed" in refused["error"]
    status, repeat = join(host, "returning", allow_repeat=True)  # the bundle, not the request, decides
    assert status == 409


def test_a_session_id_of_another_participant_is_refused(host):
    _, owner = join(host, "owner", session_id=uuid.uuid4().hex)
    status, reply = join(host, "intruder", session_id=owner["session_id"])
    assert status == 409 and "another participant" in reply["error"]


def test_after_resuming_numbering_continues_after_stored_events(host):
    device = uuid.uuid4().hex
    _, session = join(host, "numbering", session_id=uuid.uuid4().hex, resume_secret=device)
    request(
        host,
        "POST",
        f"/api/v1/sessions/{session['session_id']}/events",
        {"schema": 1, "events": [{"seq": s, "type": "page", "t": 1.7e12} for s in (1, 2, 3)]},
        session["token"],
    )
    _, resumed = join(host, "numbering", session_id=session["session_id"], resume_secret=device)
    assert resumed["next_seq"] == 4
