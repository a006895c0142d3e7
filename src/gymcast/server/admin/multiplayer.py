"""Groups and the waiting room, from the relay events in storage plus the live relay's waiting room."""

from __future__ import annotations

from typing import Any

from gymcast.storage import EventStore


def groups_from_log(store: EventStore) -> dict[str, dict[str, Any]]:
    """Every group the relay logged: members, RTTs, input delay, desyncs, dropouts, fallbacks, and its end."""
    groups: dict[str, dict[str, Any]] = {}
    for event in store.iter_relay_events():
        if not event.group_id:
            continue
        group = groups.setdefault(
            event.group_id,
            {
                "group_id": event.group_id,
                "members": {},
                "rtt_ms": {},
                "input_delay": None,
                "game": None,
                "formed_at": None,
                "desyncs": 0,
                "dropouts": 0,
                "rejoins": 0,
                "fallbacks": {},
                "ended": None,
            },
        )
        data = event.data
        if event.type == "group_formed":
            group.update(
                members=data.get("members", {}),
                rtt_ms=data.get("rtt_ms", {}),
                input_delay=data.get("input_delay"),
                game=data.get("game"),
                formed_at=event.received_at,
            )
        elif event.type == "desync":
            group["desyncs"] += 1
        elif event.type == "dropout":
            group["dropouts"] += 1
        elif event.type == "rejoin":
            group["rejoins"] += 1
        elif event.type == "seat" and "agent" in data:
            group["fallbacks"][data["agent"]] = data.get("controller")
        elif event.type == "group_end":
            group["ended"] = {"reason": data.get("reason"), "at": event.received_at}
    return groups


def multiplayer_view(store: EventStore, live: dict[str, Any]) -> dict[str, Any]:
    """The waiting room now, groups in play (not ended) and groups that ended."""
    groups = groups_from_log(store)
    for group_id, state in live.get("groups", {}).items():
        if group_id in groups:
            groups[group_id]["live"] = state
    playing = [g for g in groups.values() if g["ended"] is None]
    ended = [g for g in groups.values() if g["ended"] is not None]
    return {"waiting": live.get("waiting", []), "playing": playing, "ended": ended[-50:]}
