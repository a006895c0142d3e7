"""The one place the dashboard reads or steers the live relay.

It knows two layouts of the relay's memory: `Relay.waiting`/`Relay.groups` (before the `relay`
branch's split) and `Relay.state` (a `RelayState` with rooms and groups, after it). Once both are
merged, keep only the second branch of `_parts` and `_end`.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from flask import current_app


def _service_and_relay() -> tuple[Any, Any]:
    service = current_app.extensions.get("gymcast.relay")
    return service, getattr(service, "relay", None)


def _parts(relay: Any) -> tuple[list[tuple[str, Any]], list[Any]]:
    """`([(game, waiter), ...], [group, ...])` from either relay layout."""
    if hasattr(relay, "state"):
        waiters = [(room.rules.game, waiter) for room in relay.state.rooms() for waiter in list(room.waiters)]
        return waiters, list(relay.state.groups())
    waiters = [(waiter.game, waiter) for queue in list(relay.waiting.values()) for waiter in list(queue)]
    return waiters, list(relay.groups.values())


def live_relay() -> dict[str, Any]:
    """The relay right now: `{"waiting": [{session_id, game, waited_s, rtt_ms}], "groups": {group_id: {...}}}`."""
    _, relay = _service_and_relay()
    if relay is None:
        return {"waiting": [], "groups": {}}
    with relay._lock:
        now = relay.clock()
        waiters, groups = _parts(relay)
        waiting = [
            {"session_id": w.session_id, "game": game, "waited_s": round(now - w.joined_at, 1), "rtt_ms": w.rtt_ms}
            for game, w in waiters
        ]
        live = {
            group.group_id: {
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
            for group in groups
        }
    return {"waiting": waiting, "groups": live, "read_at": time.time()}


def end_group(group_id: str, reason: str) -> bool:
    """End a live group (its members get the configured end); False when the relay holds no such group."""
    service, relay = _service_and_relay()
    if service is None or relay is None:
        return False
    effects = _effects_class()()
    with relay._lock:
        group = next((g for g in _parts(relay)[1] if g.group_id == group_id and not g.ended), None)
        if group is None:
            return False
        if hasattr(group, "end"):
            group.end(reason, effects)
            relay._free_if_ended(group, relay.clock())
        else:
            relay._end(group, reason, effects)
    service.perform(effects)
    return True


def _effects_class() -> Any:
    """The relay's `Effects` (its module moved in the relay's split)."""
    for module in ("gymcast.relay.effects", "gymcast.relay.rooms"):
        try:
            return importlib.import_module(module).Effects
        except ImportError:
            continue
    raise ImportError("the relay has no Effects class")
