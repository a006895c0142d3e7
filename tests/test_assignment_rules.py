"""Condition assignment rules the host applies, over a real socket: active sessions count, ties and
`assignment="random"` are random, stale unfinished sessions stop counting. (The no-host rule: test_participant_node.py.)"""

from __future__ import annotations

import sqlite3

from gymcast.server.assignment import ACTIVE_FOR_S
from test_assignment import complete, join


def test_participants_playing_at_the_same_time_are_balanced(host):
    counts = {"a": 0, "b": 0}
    for number in range(20):  # nobody completes: only "fewest completed or active" keeps this balanced
        status, session = join(host, f"overlap{number:02d}")
        assert status == 201
        counts[session["condition"]] += 1
        assert abs(counts["a"] - counts["b"]) <= 1, (number, counts)
    assert counts == {"a": 10, "b": 10}


def test_ties_are_broken_at_random(host):
    firsts = {join(host, "first", experiment=f"study{number}")[1]["condition"] for number in range(24)}
    assert firsts == {"a", "b"}  # each study's first participant is a tie; always "a" would mean no randomness


def test_random_assignment_ignores_the_counts(host):
    counts = {"a": 0, "b": 0}
    spread = 0
    for number in range(40):
        _, session = join(host, f"random{number:02d}", assignment="random")
        counts[session["condition"]] += 1
        spread = max(spread, abs(counts["a"] - counts["b"]))
    assert spread >= 2 and counts["a"] and counts["b"]  # balanced would never drift by 2 (chance of that: 2^-20)


def age(host, session_id: str, seconds: float) -> None:
    """Move a session's start `seconds` into the past, in the host's own SQLite file."""
    with sqlite3.connect(host.data) as db:
        db.execute("UPDATE sessions SET created_at = created_at - ? WHERE session_id = ?", (seconds, session_id))


def two_ahead(host, prefix: str) -> tuple[list[dict], str]:
    """Three new participants: two in one condition (the leader, returned with its sessions), one in the other."""
    sessions = [join(host, f"{prefix}{number}")[1] for number in range(3)]
    leader = max("ab", key=lambda c: sum(s["condition"] == c for s in sessions))
    ahead = [s for s in sessions if s["condition"] == leader]
    assert len(ahead) == 2
    return ahead, leader


def test_an_unfinished_session_stops_counting_after_the_active_window(host):
    ahead, leader = two_ahead(host, "stale")
    for session in ahead:  # both abandoned long ago: 0 : 1 now
        age(host, session["session_id"], ACTIVE_FOR_S + 60)
    assert join(host, "stale-next")[1]["condition"] == leader


def test_a_completed_session_counts_however_old(host):
    ahead, leader = two_ahead(host, "done")
    for session in ahead:  # both completed long ago: still 2 : 1
        complete(host, session)
        age(host, session["session_id"], ACTIVE_FOR_S + 60)
    assert join(host, "done-next")[1]["condition"] != leader
