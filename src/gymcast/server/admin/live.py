"""The one place the dashboard reads or steers the live relay (branch `relay` is reshaping its internals)."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app


def live_relay() -> dict[str, Any]:
    """The relay right now: `{"waiting": [{session_id, game, waited_s, rtt_ms}], "groups": {group_id: {...}}}`."""
    service = current_app.extensions.get("gymcast.relay")
    relay = getattr(service, "relay", None)
    if relay is None:
        return {"waiting": [], "groups": {}}
    now = relay.clock()
    waiting = [
        {"session_id": w.session_id, "game": w.game, "waited_s": round(now - w.joined_at, 1), "rtt_ms": w.rtt_ms}
        for waiters in list(relay.waiting.values())
        for w in list(waiters)
    ]
    groups = {
        group_id: {
            "game": group.rules.game,
            "ended": group.ended,
            "input_delay": group.input_delay,
            "seats": {
                agent: {
                    "session_id": seat.session_id,
                    "controller": seat.controller,
                    "connected": seat.peer is not None,
                }
                for agent, seat in group.seats.items()
            },
        }
        for group_id, group in list(relay.groups.items())
    }
    return {"waiting": waiting, "groups": groups, "read_at": time.time()}


def end_group(group_id: str, reason: str) -> bool:
    """End a live group (its members get the configured end); False when the relay holds no such group."""
    service = current_app.extensions.get("gymcast.relay")
    relay = getattr(service, "relay", None)
    if service is None or relay is None or group_id not in relay.groups:
        return False
    from gymcast.relay.rooms import Effects

    effects = Effects()
    with relay._lock:
        group = relay.groups[group_id]
        if group.ended:
            return False
        relay._end(group, reason, effects)
    service.perform(effects)
    return True
