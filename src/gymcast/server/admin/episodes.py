"""A session's logged episodes for the replay viewer: `gymcast.replay`'s grouping plus the keys each step used."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from gymcast.replay import logged_episodes
from gymcast.storage import EventStore


def episodes_of(store: EventStore, session_id: str) -> list[dict[str, Any]]:
    """Each logged episode (in order) with its steps; a step carries the logged keys, and `scene` is the game's."""
    events = list(store.iter_events(session_id))
    episodes = logged_episodes(events)
    step_events = iter([e for e in events if e.type == "step"])
    pending = next(step_events, None)
    found = []
    for episode in episodes:
        steps = []
        for step in episode.steps:  # the step events in log order; `logged_episodes` keeps that order
            while pending is not None and (pending.step != step.step or pending.data.get("actions") != step.actions):
                pending = next(step_events, None)
            keys = pending.data.get("keys") if pending is not None else None
            pending = next(step_events, None)
            steps.append({**asdict(step), "keys": keys})
        found.append(
            {
                **{k: v for k, v in asdict(episode).items() if k != "steps"},
                "scene": episode.game.split(":")[0],
                "steps": steps,
            }
        )
    return found
