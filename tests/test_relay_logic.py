"""The relay's logic without sockets or sleeps: the waiting room and groups, driven by a fake clock and fake peers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pytest

from gymcast.relay.coordinator import Relay
from gymcast.relay.effects import Effects
from gymcast.relay.endpoint import LIMITS, connection_limits
from gymcast.relay.group import MAX_REPAIRS
from gymcast.relay.protocol import Join, ServerMessages, parse_message
from gymcast.relay.rules import GameRules
from gymcast.relay.state import ENDED_KEPT_S
from gymcast.relay.waiting_room import PING_EVERY_S


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakePeer:
    """A browser's connection: it keeps what it was sent, as the JSON a browser would read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.inbox: list[dict[str, Any]] = []
        self.closed = False

    def send(self, message: ServerMessages) -> None:
        self.inbox.append(json.loads(message.to_json()))

    def close(self) -> None:
        self.closed = True

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.inbox if message["type"] == kind]

    def last(self, kind: str) -> dict[str, Any]:
        found = self.of_type(kind)
        assert found, f"{self.name} got no {kind!r}; got {[m['type'] for m in self.inbox]}"
        return found[-1]


def rules(**changes: Any) -> GameRules:
    values: dict[str, Any] = {
        "game": "main",
        "seats": ("left", "right"),
        "fps": 30,
        "seed": 5,
        "wait_timeout_s": 30,
        "on_timeout": "end",
        "timeout_code": "PARTIAL",
        "timeout_redirect": "",
        "grace_s": 10,
        "on_dropout": "default_action",
        "hash_every": 15,
        "input_delay": None,
    }
    return GameRules(**(values | changes))


class Host:
    """A relay with fake time and peers; performs effects by delivering sends and keeping records."""

    def __init__(self, reference: str | None = None, **rule_changes: Any) -> None:
        self.clock = Clock()
        self.draws: list[list[str]] = []

        def choose(options: Sequence[str]) -> str:
            self.draws.append(list(options))
            return reference if reference in options else options[0]

        self.relay = Relay({"main": rules(**rule_changes)}, clock=self.clock, choose=choose)
        self.records: list[tuple[str, str, dict[str, Any]]] = []
        self.sessions: dict[FakePeer, str] = {}

    def perform(self, effects: Effects) -> None:
        self.records.extend(effects.records)
        for peer, message in effects.sends:
            peer.send(message)
        for peer in effects.closes:
            peer.close()

    def join(self, name: str, session_id: str | None = None, visible: bool = True) -> FakePeer:
        peer = FakePeer(name)
        session_id = session_id or hashlib.md5(name.encode()).hexdigest()
        self.sessions[peer] = session_id
        join = {"type": "join", "schema": 1, "session_id": session_id, "token": "t", "game": "main", "visible": visible}
        message = parse_message(_json(join))
        assert isinstance(message, Join)
        self.perform(self.relay.join(peer, message))
        return peer

    def send(self, peer: FakePeer, **message: Any) -> None:
        self.perform(self.relay.receive(peer, self.sessions[peer], parse_message(_json(message))))

    def pong(self, peer: FakePeer, rtt_ms: float = 20.0) -> None:
        self.send(peer, type="pong", t=self.clock.now * 1000 - rtt_ms)

    def leave(self, peer: FakePeer) -> None:
        self.perform(self.relay.disconnect(peer, self.sessions[peer]))

    def tick(self, seconds: float = 0.0) -> None:
        self.clock.now += seconds
        self.perform(self.relay.tick())

    def kinds(self) -> list[str]:
        return [kind for _, kind, _ in self.records]

    def recorded(self, kind: str) -> list[dict[str, Any]]:
        return [data for _, record_kind, data in self.records if record_kind == kind]

    def pair(self) -> tuple[FakePeer, FakePeer]:
        left, right = self.join("left"), self.join("right")
        self.pong(left)
        self.pong(right)
        assert left.last("matched")["seat"] == "left" and right.last("matched")["seat"] == "right"
        return left, right


def _json(message: dict[str, Any]) -> str:
    return json.dumps(message)


# -- the waiting room ------------------------------------------------------------------------------


def test_matching_takes_visible_players_with_a_measured_round_trip_in_arrival_order():
    host = Host()
    hidden = host.join("hidden", visible=False)
    first, second = host.join("first"), host.join("second")
    assert hidden.of_type("waiting")[0]["schema"] == 1 and hidden.of_type("ping")
    for peer in (hidden, first):
        host.pong(peer)
    host.tick(5)
    assert not first.of_type("matched"), "a player whose round trip is unknown is not matched"
    host.pong(second, rtt_ms=90)
    assert not hidden.of_type("matched"), "a hidden tab is not matched"
    assert (first.last("matched")["seat"], second.last("matched")["seat"]) == ("left", "right")
    assert first.last("matched")["input_delay"] == 4  # ceil((90 ms + 33.3 ms) / 33.3 ms)
    host.send(hidden, type="visibility", visible=True)
    later = host.join("later")
    host.pong(later)
    assert (hidden.last("matched")["seat"], later.last("matched")["seat"]) == ("left", "right")


def test_waiters_are_pinged_and_told_how_long_they_waited_then_time_out():
    host = Host(wait_timeout_s=3)
    alone = host.join("alone")
    host.tick(PING_EVERY_S)
    host.tick(PING_EVERY_S)
    assert [m["waited_s"] for m in alone.of_type("waiting")] == [0, 1.0, 2.0]
    assert len(alone.of_type("ping")) == 3
    host.tick(1)
    timeout = alone.last("timeout")
    assert (timeout["waited_s"], timeout["on_timeout"], timeout["code"]) == (3.0, "end", "PARTIAL")
    assert host.recorded("wait_timeout")[0]["session_id"] == host.sessions[alone]
    host.tick(1)
    assert len(alone.of_type("timeout")) == 1, "a timed-out player left the room"


def test_a_waiter_may_only_pong_or_change_visibility_and_leaving_frees_its_place():
    host = Host()
    early = host.join("early")
    host.send(early, type="action", episode=0, step=1, agent="left", action=0)
    assert "not allowed before you are matched" in early.last("error")["message"]
    host.pong(early)
    host.leave(early)
    first, second = host.join("first"), host.join("second")
    host.pong(first)
    host.pong(second)
    assert not early.of_type("matched") and first.last("matched")["seat"] == "left"


# -- a group ---------------------------------------------------------------------------------------


def test_actions_go_to_the_other_members_and_only_for_ones_own_seat():
    host = Host()
    left, right = host.pair()
    host.send(left, type="action", episode=0, step=3, agent="left", action=1)
    assert right.last("action") == {"type": "action", "episode": 0, "step": 3, "agent": "left", "action": 1}
    assert not left.of_type("action")
    host.send(right, type="action", episode=0, step=3, agent="left", action=0)
    assert "do not control seat 'left'" in right.last("error")["message"]
    host.send(left, type="action", episode=0, step=3, agent="left", action=0)  # a repeat of step 3
    assert len(right.of_type("action")) == 1


def desync(host: Host, left, right, step: int = 30, repairs: int = 0) -> None:
    host.send(left, type="hash", episode=0, step=step, hash="aa" * 8, repairs=repairs)
    host.send(right, type="hash", episode=0, step=step, hash="bb" * 8, repairs=repairs)


def answer(host: Host, peer: FakePeer, state: str = "c3RhdGU=") -> None:
    request = peer.last("snapshot_request")
    host.send(
        peer,
        type="snapshot",
        request_id=request["request_id"],
        episode=request["episode"],
        step=request["step"],
        state=state,
        returns={},
    )


@pytest.mark.parametrize("reference", ["left", "right"])
def test_the_desync_reference_is_the_seat_drawn_for_the_group_not_the_first_to_join(reference):
    host = Host(reference=reference)
    left, right = host.pair()
    assert host.draws == [["left", "right"]]
    desync(host, left, right)
    source, target = (left, right) if reference == "left" else (right, left)
    assert not target.of_type("snapshot_request")
    answer(host, source)
    assert target.last("state")["from"] == reference and not source.of_type("state")
    (logged,) = host.recorded("desync")
    assert logged["reference"] == reference and logged["repairing"] == [target.name]


def test_a_repair_is_confirmed_by_the_next_hashes_taken_after_it_arrived():
    host = Host(reference="right")
    left, right = host.pair()
    desync(host, left, right)
    host.send(left, type="hash", episode=0, step=45, hash="cc" * 8)  # taken before the state reached it
    host.send(right, type="hash", episode=0, step=45, hash="dd" * 8)
    answer(host, right)
    host.send(left, type="hash", episode=0, step=60, hash="ee" * 8, repairs=1)
    assert not host.recorded("repair_confirmed")
    host.send(right, type="hash", episode=0, step=60, hash="ee" * 8)
    (confirmed,) = host.recorded("repair_confirmed")
    assert confirmed == {"episode": 0, "step": 60, "reference": "right", "repaired": ["left"], "repair_step": [0, 30]}
    desync(host, left, right, step=75, repairs=1)  # a later disagreement is repaired again
    assert len(host.recorded("desync")) == 2 and len(right.of_type("snapshot_request")) == 2


def test_an_unconfirmed_repair_ends_the_group_and_frees_it():
    host = Host(reference="left")
    left, right = host.pair()
    desync(host, left, right)
    answer(host, left)
    host.send(right, type="hash", episode=0, step=45, hash="ff" * 8, repairs=1)
    host.send(left, type="hash", episode=0, step=45, hash="ee" * 8)
    assert left.last("end")["reason"] == right.last("end")["reason"] == "desync_unresolved"
    (unconfirmed,) = host.recorded("repair_unconfirmed")
    assert unconfirmed["hashes"] == {"right": "ff" * 8, "left": "ee" * 8} and unconfirmed["repaired"] == ["right"]
    assert host.relay.state.groups() == []
    back = host.join("back", session_id=host.sessions[right])
    assert back.last("end") == {"type": "end", "reason": "group_ended", "agent": "right"}


def test_a_group_that_keeps_disagreeing_ends_after_the_repair_limit():
    host = Host(reference="left")
    left, right = host.pair()
    for repaired in range(MAX_REPAIRS):  # each repair holds, and the seats then disagree again
        step = 60 * repaired + 30
        desync(host, left, right, step=step, repairs=repaired)
        answer(host, left)
        host.send(left, type="hash", episode=0, step=step + 30, hash="11" * 8)
        host.send(right, type="hash", episode=0, step=step + 30, hash="11" * 8, repairs=repaired + 1)
    assert len(host.recorded("repair_confirmed")) == MAX_REPAIRS and not right.of_type("end")
    desync(host, left, right, step=1000, repairs=MAX_REPAIRS)
    assert host.recorded("desync_limit") and right.last("end")["reason"] == "desync_unresolved"


def test_with_three_seats_a_strict_majority_is_the_reference():
    host = Host(reference="a", seats=("a", "b", "c"))
    peers = [host.join(name) for name in ("a", "b", "c")]
    for peer in peers:
        host.pong(peer)
    for peer, value in zip(peers, ("aa", "bb", "bb")):
        host.send(peer, type="hash", episode=0, step=15, hash=value * 8)
    (logged,) = host.recorded("desync")
    assert logged["reference"] in ("b", "c") and logged["repairing"] == ["a"]
    assert host.draws[-1] == ["b", "c"]


def test_a_reference_that_leaves_before_answering_cancels_the_repair():
    host = Host(reference="left", grace_s=10)
    left, right = host.pair()
    desync(host, left, right)
    host.leave(left)
    assert right.last("seat")["controller"] == "fallback"
    host.send(right, type="hash", episode=0, step=45, hash="bb" * 8)  # alone: nothing to compare
    assert len(host.recorded("desync")) == 1 and not right.of_type("state")


# -- dropouts, grace and rejoining -----------------------------------------------------------------


def test_a_dropped_seat_is_played_by_a_stand_in_and_its_player_can_rejoin():
    host = Host()
    left, right = host.pair()
    host.send(right, type="action", episode=0, step=5, agent="right", action=1)
    host.leave(right)
    seat = left.last("seat")
    assert (seat["controller"], seat["proxy"], seat["last_action"]) == ("fallback", "left", [0, 5])
    host.send(left, type="action", episode=0, step=6, agent="right", action=0)
    assert left.last("action")["step"] == 6, "the stand-in's action is echoed to it"
    host.tick(5)
    back = host.join("back", session_id=host.sessions[right])
    assert back.last("matched")["rejoin"] is True and "rtt_ms" not in back.last("matched")
    assert left.last("seat")["controller"] == "human"
    request = left.last("snapshot_request")
    assert (request["reason"], request["step"]) == ("rejoin", 6)
    answer(host, left, state="eA==")
    assert back.last("state")["reason"] == "rejoin"
    assert host.kinds().index("dropout") < host.kinds().index("rejoin") < host.kinds().index("state_sent")
    assert host.recorded("rejoin")[0]["away_s"] == 5


def test_after_a_rejoin_the_seat_may_resend_the_steps_after_the_state_it_continues_from():
    """A host process that crashed may have taken the last actions it had counted with it: the rejoining browser
    resends its actions after the partner's state, and they reach the partner although the relay saw those steps."""
    host = Host()
    left, right = host.pair()
    for step in range(1, 11):
        host.send(left, type="action", episode=0, step=step, agent="left", action=1)
    lost = right.inbox.pop()  # step 10 never reached the partner: its process died while forwarding it
    assert lost["step"] == 10
    back = host.join("back", session_id=host.sessions[left])  # a new connection; the old one was never closed
    assert back.last("matched")["rejoin"] is True
    request = right.last("snapshot_request")
    host.send(right, type="snapshot", request_id=request["request_id"], episode=0, step=9, state="eA==", returns={})
    assert back.last("state")["step"] == 9
    host.send(back, type="action", episode=0, step=10, agent="left", action=0)
    assert right.last("action") == {"type": "action", "episode": 0, "step": 10, "agent": "left", "action": 0}
    host.send(back, type="action", episode=0, step=10, agent="left", action=1)  # a repeat is still dropped
    assert len([m for m in right.of_type("action") if m["step"] == 10]) == 1


def test_after_the_grace_period_an_end_rule_ends_and_frees_the_group():
    host = Host(on_dropout="end", grace_s=2)
    left, right = host.pair()
    host.leave(right)
    assert left.last("seat")["controller"] == "absent"
    host.tick(1.9)
    assert not left.of_type("end")
    host.tick(0.2)
    assert left.last("end")["reason"] == "partner_left"
    assert host.relay.state.groups() == []
    back = host.join("back", session_id=host.sessions[right])
    assert back.last("end")["reason"] == "group_ended"
    assert host.kinds()[-2:] == ["group_end", "rejoin_refused"]
    host.tick(ENDED_KEPT_S + 1)
    assert host.relay.state.ended_seat(host.sessions[right]) is None, "ended seats are forgotten in time"


def test_after_the_grace_period_the_fallback_keeps_the_seat():
    host = Host(on_dropout="ai", grace_s=2)
    left, right = host.pair()
    host.leave(right)
    host.tick(2)
    assert left.last("seat")["abandoned"] is True
    back = host.join("back", session_id=host.sessions[right])
    assert back.last("end")["reason"] == "seat_taken"


def test_when_everyone_finished_or_left_the_group_ends_and_is_freed():
    host = Host()
    left, right = host.pair()
    host.send(left, type="finished")
    assert host.relay.state.groups() != []
    host.send(right, type="finished")
    assert left.last("end")["reason"] == "finished" and host.relay.state.groups() == []
    other = Host()
    a, b = other.pair()
    other.leave(a)
    other.leave(b)
    assert other.recorded("group_end")[0]["reason"] == "everyone_left" and other.relay.state.groups() == []


def test_the_read_budget_covers_the_fastest_game_with_the_most_seats():
    usual = connection_limits({"main": rules()})
    assert (usual.messages_per_s, usual.message_burst) == (LIMITS.messages_per_s, LIMITS.message_burst)
    seats = tuple(f"p{i}" for i in range(8))
    fast = connection_limits({"main": rules(), "crowd": rules(game="crowd", seats=seats, fps=120)})
    # a browser standing in for 7 seats sends 8 actions and a hash a step, 120 steps a second: twice that
    assert fast.messages_per_s == 2 * 120 * 9 and fast.message_burst == 2 * fast.messages_per_s
    assert fast.max_message_bytes == LIMITS.max_message_bytes and fast.flood_s == LIMITS.flood_s
