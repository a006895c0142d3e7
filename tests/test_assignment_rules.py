"""Condition assignment rules the host applies, over a real socket: active sessions count, ties and
`assignment="random"` are random, stale unfinished sessions stop counting. (The no-host rule: test_browser_modules_node.py.)

Works whether the study's conditions come with each request (older hosts) or from the served bundle's manifest
(hosts that decide them themselves, with `test_security_host.bundle_copy`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator

import pytest

from conftest import HostProcess
from gymcast.server.assignment import ACTIVE_FOR_S
from test_host import request

try:  # the host reads the study's rules from its bundle
    from test_security_host import bundle_copy
except ImportError:  # the page sends them with each request
    bundle_copy = None

Join = Callable[[str], dict]


@pytest.fixture
def study(cartpole_bundle, tmp_path) -> Iterator[Callable[..., tuple[HostProcess, Join]]]:
    """Start hosts of a two-condition study: `study(assignment)` -> (host, join(participant) -> session)."""
    hosts: list[HostProcess] = []

    def start(assignment: str = "balanced") -> tuple[HostProcess, Join]:
        rules = {"conditions": ["a", "b"], "assignment": assignment, "allow_repeat": False}
        root = tmp_path / f"study{len(hosts)}"
        bundle = bundle_copy(cartpole_bundle, root / "bundle", **rules) if bundle_copy else cartpole_bundle
        host = HostProcess(bundle, root.with_suffix(".sqlite")).start()
        hosts.append(host)
        sent = {} if bundle_copy else {"experiment": "study", "build_id": "b1", **rules}

        def join(participant: str) -> dict:
            response, data = request(
                host, "POST", "/api/v1/sessions", {"schema": 1, "participant_id": participant, **sent}
            )
            assert response.status == 201, data
            session = json.loads(data)
            post_events(host, session, [{"seq": 1, "type": "scene_start", "t": 1.7e12}])  # the participant is active
            return session

        return host, join

    yield start
    for host in hosts:
        host.stop()


def post_events(host: HostProcess, session: dict, events: list[dict]) -> None:
    response, data = request(
        host,
        "POST",
        f"/api/v1/sessions/{session['session_id']}/events",
        {"schema": 1, "events": events},
        session["token"],
    )
    assert response.status == 200, data


def complete(host: HostProcess, session: dict) -> None:
    post_events(host, session, [{"seq": 2, "type": "completion", "t": 1.7e12, "code": "X"}])


def age(host: HostProcess, session_id: str, seconds: float) -> None:
    """Move a session's start (and last counted activity, where the host keeps one) `seconds` into the past."""
    with sqlite3.connect(host.data) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
        for column in {"created_at", "counted_at"} & columns:
            db.execute(
                f"UPDATE sessions SET {column} = {column} - ? WHERE session_id = ? AND {column} IS NOT NULL",
                (seconds, session_id),
            )


def test_participants_playing_at_the_same_time_are_balanced(study):
    _, join = study()
    counts = {"a": 0, "b": 0}
    for number in range(20):  # nobody completes: only "fewest completed or active" keeps this balanced
        counts[join(f"overlap{number:02d}")["condition"]] += 1
        assert abs(counts["a"] - counts["b"]) <= 1, (number, counts)
    assert counts == {"a": 10, "b": 10}


def test_ties_are_broken_at_random(study):
    firsts = {study()[1]("first")["condition"] for _ in range(12)}
    assert firsts == {"a", "b"}  # each study's first participant is a tie; always "a" would mean no randomness


def test_random_assignment_ignores_the_counts(study):
    _, join = study("random")
    counts = {"a": 0, "b": 0}
    spread = 0
    for number in range(40):
        counts[join(f"random{number:02d}")["condition"]] += 1
        spread = max(spread, abs(counts["a"] - counts["b"]))
    assert spread >= 2 and counts["a"] and counts["b"]  # balanced would never drift by 2 (chance of that: 2^-20)


def two_ahead(join: Join, prefix: str) -> tuple[list[dict], str]:
    """Three new participants: two in one condition (the leader, returned with its sessions), one in the other."""
    sessions = [join(f"{prefix}{number}") for number in range(3)]
    leader = max("ab", key=lambda c: sum(s["condition"] == c for s in sessions))
    ahead = [s for s in sessions if s["condition"] == leader]
    assert len(ahead) == 2
    return ahead, leader


def test_an_unfinished_session_stops_counting_after_the_active_window(study):
    host, join = study()
    ahead, leader = two_ahead(join, "stale")
    for session in ahead:  # both abandoned long ago: 0 : 1 now
        age(host, session["session_id"], ACTIVE_FOR_S + 60)
    assert join("stale-next")["condition"] == leader


def test_a_completed_session_counts_however_old(study):
    host, join = study()
    ahead, leader = two_ahead(join, "done")
    for session in ahead:  # both completed long ago: still 2 : 1
        complete(host, session)
        age(host, session["session_id"], ACTIVE_FOR_S + 60)
    assert join("done-next")["condition"] != leader
