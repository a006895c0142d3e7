"""Groups and waiting rooms as JSON, for a relay state shared through a store (see `redis_state`).

A peer is stored as its address (`Addressed.address`); `peer_at` turns an address back into a peer.
Rules and the reference draw are not stored: they come from the bundle's manifest and the host.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, Protocol, cast

from gymcast.relay.effects import Peer
from gymcast.relay.group import Choose, Group, Repair, Request, Seat
from gymcast.relay.rules import GameRules
from gymcast.relay.waiting_room import Waiter

PeerAt = Callable[[str], Peer]


class Addressed(Protocol):
    """A peer that any host process can reach by its address."""

    address: str


def _address(peer: Peer | None) -> str | None:
    return None if peer is None else cast(Addressed, peer).address


def group_to_json(group: Group) -> str:
    """`group` as JSON (its rules by game key)."""
    return json.dumps(
        {
            "id": group.group_id,
            "game": group.rules.game,
            "seats": [
                {
                    "agent": seat.agent,
                    "session": seat.session_id,
                    "peer": _address(seat.peer),
                    "controller": seat.controller,
                    "last": list(seat.last_action),
                    "away": seat.disconnected_at,
                    "abandoned": seat.abandoned,
                    "finished": seat.finished,
                    "repairs_sent": seat.repairs_sent,
                }
                for seat in group.seats.values()
            ],
            "seed": group.seed,
            "input_delay": group.input_delay,
            "reference": group.reference,
            "proxy": group.proxy,
            "hashes": [[key[0], key[1], reported] for key, reported in group.hashes.items()],  # oldest first
            "requests": [
                [request_id, r.source, r.reason, r.targets, list(r.at)] for request_id, r in group.requests.items()
            ],
            "repair": None
            if group.repair is None
            else [list(group.repair.at), group.repair.reference, group.repair.targets, group.repair.request_id],
            "repairs": group.repairs,
            "ended": group.ended,
            "stale": group.stale_actions,
            "stand_ins": sorted(group.stand_ins),
            "next_request": group._next_request,
        },
        separators=(",", ":"),
    )


def group_from_json(text: str | bytes, games: dict[str, GameRules], choose: Choose, peer_at: PeerAt) -> Group:
    """The group `group_to_json` wrote."""
    data: dict[str, Any] = json.loads(text)
    seats = {
        s["agent"]: Seat(
            s["agent"],
            s["session"],
            None if s["peer"] is None else peer_at(s["peer"]),
            s["controller"],
            (s["last"][0], s["last"][1]),
            s["away"],
            s["abandoned"],
            s["finished"],
            s["repairs_sent"],
        )
        for s in data["seats"]
    }
    repair = data["repair"]
    return Group(
        data["id"],
        games[data["game"]],
        seats,
        data["seed"],
        data["input_delay"],
        data["reference"],
        choose=choose,
        proxy=data["proxy"],
        hashes={(episode, step): reported for episode, step, reported in data["hashes"]},
        requests={
            request_id: Request(source, cast(Literal["desync", "rejoin"], reason), targets, (at[0], at[1]))
            for request_id, source, reason, targets, at in data["requests"]
        },
        repair=None if repair is None else Repair((repair[0][0], repair[0][1]), repair[1], repair[2], repair[3]),
        repairs=data["repairs"],
        ended=data["ended"],
        stale_actions=data["stale"],
        stand_ins=set(data["stand_ins"]),
        _next_request=data["next_request"],
    )


def waiters_to_json(waiters: list[Waiter]) -> str:
    """A waiting room's waiters, in arrival order, as JSON."""
    return json.dumps(
        [
            [_address(w.peer), w.session_id, w.joined_at, w.visible, w.rtt_ms, w.last_ping, w.last_notice]
            for w in waiters
        ],
        separators=(",", ":"),
    )


def waiters_from_json(text: str | bytes, peer_at: PeerAt) -> list[Waiter]:
    """The waiters `waiters_to_json` wrote."""
    return [
        Waiter(peer_at(address), session_id, joined_at, visible, rtt_ms, last_ping, last_notice)
        for address, session_id, joined_at, visible, rtt_ms, last_ping, last_notice in json.loads(text)
    ]
