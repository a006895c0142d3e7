"""The one place the dashboard reads or steers the live relay (through the relay's public methods)."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app


def live_relay() -> dict[str, Any]:
    """The relay right now: `{"waiting": [{session_id, game, waited_s, rtt_ms}], "groups": {group_id: {...}}}`."""
    service = current_app.extensions.get("gymcast.relay")
    if service is None:
        return {"waiting": [], "groups": {}, "read_at": time.time()}
    return {**service.relay.overview(), "read_at": time.time()}


def end_group(group_id: str, reason: str) -> bool:
    """End a live group (its members get the configured end); False when the relay holds no such group."""
    service = current_app.extensions.get("gymcast.relay")
    if service is None:
        return False
    effects = service.relay.end_group(group_id, reason)
    if effects is None:
        return False
    service.perform(effects)
    return True
