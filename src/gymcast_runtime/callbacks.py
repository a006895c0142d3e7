"""Researcher hooks that run in the browser and add custom fields to the log."""

from __future__ import annotations

import json
from typing import Any

CustomFields = dict[str, Any] | None


class Callback:
    """Subclass and override any hook; each may return a dict that is logged as the event's `custom` field.

    Hooks run inside the participant's browser (in Pyodide) and natively during replay.
    """

    def on_episode_start(self, env: Any, episode: int, seed: int) -> CustomFields:
        """After `env.reset(seed=seed)` for episode `episode` (0-based)."""
        return None

    def on_step(self, env: Any, actions: dict[str, Any], result: dict[str, Any]) -> CustomFields:
        """After each `env.step`; `result` is the step's log record (step, rewards, flags, hash)."""
        return None

    def on_episode_end(self, env: Any, episode: int, returns: dict[str, float]) -> CustomFields:
        """When an episode terminates or is truncated; `returns` sums rewards per agent."""
        return None

    def on_page(self, what: str) -> CustomFields:
        """When the page is hidden, shown, focused or blurred (`what` names which)."""
        return None


def checked_custom(hook: str, fields: CustomFields) -> CustomFields:
    """`fields` if it is None or a JSON-serialisable dict; otherwise a TypeError naming the hook."""
    if fields is None:
        return None
    if not isinstance(fields, dict):
        raise TypeError(f"callback {hook} must return a dict or None, got {type(fields).__name__}")
    try:
        json.dumps(fields, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"callback {hook} returned fields that cannot be logged as JSON: {error}") from None
    return fields
