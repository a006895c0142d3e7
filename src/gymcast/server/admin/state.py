"""What the dashboard shows, computed from the store: participants' states, the overview, one participant."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gymcast.storage import EventStore, NewSession, StoredEvent

#: A participant with no event for this long (and not completed) counts as gone.
GONE_AFTER_S = 600.0
#: Event types the dashboard never reads (far too many to load on every refresh).
BULKY = ("step",)
STATES = ("loading", "in_scene", "waiting", "playing", "completed", "ended_by_error", "gone")


@dataclass
class Participant:
    """One session as the dashboard sees it."""

    session: NewSession
    events: list[StoredEvent] = field(default_factory=list)
    last_event_at: float | None = None

    def scene_events(self) -> list[StoredEvent]:
        """The `scene_start` and `scene_end` events, in order."""
        return [e for e in self.events if e.type in ("scene_start", "scene_end")]

    def current_scene(self) -> str | None:
        """The scene the participant is in (or last was in)."""
        starts = [e for e in self.events if e.type == "scene_start"]
        return starts[-1].data.get("scene") if starts else None

    def state(self, now: float, gone_after_s: float, waiting: set[str]) -> str:
        """One of STATES."""
        if self.session.completed_at is not None:
            return "completed"
        if self.session.errored_at is not None:
            return "ended_by_error"
        last = self.last_event_at or self.session.created_at
        if now - last > gone_after_s:
            return "gone"
        if self.session.session_id in waiting:
            return "waiting"
        starts = [i for i, e in enumerate(self.events) if e.type == "scene_start"]
        if not starts:
            return "loading"
        since = self.events[starts[-1] :]
        if any(e.type == "run_start" for e in since) and not any(e.type == "scene_end" for e in since):
            return "playing"
        return "in_scene"

    def summary(self, now: float, gone_after_s: float, waiting: set[str]) -> dict[str, Any]:
        """The participants-list entry."""
        s = self.session
        return {
            "session_id": s.session_id,
            "participant_id": s.participant_id,
            "url_params": s.url_params,
            "condition": s.condition,
            "state": self.state(now, gone_after_s, waiting),
            "scene": self.current_scene(),
            "created_at": s.created_at,
            "completed_at": s.completed_at,
            "errored_at": s.errored_at,
            "last_event_at": self.last_event_at,
        }


def load_participants(store: EventStore, session_id: str | None = None) -> list[Participant]:
    """Every session (or one) with its events, leaving out the bulky per-step ones."""
    sessions = [store.get_session(session_id)] if session_id else list(store.iter_sessions())
    found = {s.session_id: Participant(s) for s in sessions if s is not None}
    last = store.last_event_times()
    for participant in found.values():
        participant.last_event_at = last.get(participant.session.session_id)
    events: Iterator[StoredEvent] = (
        (e for e in store.iter_events(session_id) if e.type not in BULKY)
        if session_id
        else store.iter_events_except(BULKY)
    )
    for event in events:
        if event.session_id in found:
            found[event.session_id].events.append(event)
    return list(found.values())


def overview(
    participants: list[Participant],
    scenes: list[str],
    conditions: list[str],
    waiting: set[str],
    gone_after_s: float,
    host_code: str | None = None,
) -> dict[str, Any]:
    """Counts by state and condition, the scene funnel, codes, boot times, browsers, errors.

    A completion whose page did not know its code (the host issues it) counts as `host_code`."""
    now = time.time()
    states = {p.session.session_id: p.state(now, gone_after_s, waiting) for p in participants}
    in_scene = Counter(p.current_scene() or "?" for p in participants if states[p.session.session_id] == "in_scene")
    by_condition = {c: {"assigned": 0, "active": 0, "completed": 0} for c in conditions}
    for p in participants:
        if p.session.condition is None:
            continue
        counts = by_condition.setdefault(p.session.condition, {"assigned": 0, "active": 0, "completed": 0})
        counts["assigned"] += 1
        state = states[p.session.session_id]
        if state == "completed":
            counts["completed"] += 1
        elif state not in ("gone", "ended_by_error"):
            counts["active"] += 1
    boots = [e.data.get("stages_ms", {}).get("total") for p in participants for e in p.events if e.type == "boot"]
    boots = [b for b in boots if isinstance(b, (int, float))]
    codes = Counter(
        (e.data.get("code") or (None if e.data.get("partial") else host_code), bool(e.data.get("partial")))
        for p in participants
        for e in p.events
        if e.type == "completion"
    )
    errors = [
        {"session_id": e.session_id, "type": e.type, "message": e.data.get("message"), "at": e.received_at}
        for p in participants
        for e in p.events
        if "error" in e.type
    ]
    return {
        "generated_at": now,
        "gone_after_s": gone_after_s,
        "participants": len(participants),
        "states": {state: sum(1 for s in states.values() if s == state) for state in STATES},
        "in_scene": dict(in_scene),
        "conditions": by_condition,
        "funnel": funnel(participants, scenes, states),
        "codes": [
            {"code": code, "partial": partial, "count": n} for (code, partial), n in sorted(codes.items(), key=str)
        ],
        "boot_ms": {"count": len(boots), **_deciles(boots)},
        "browsers": dict(Counter(browser_of(p.session.user_agent) for p in participants)),
        "devices": dict(Counter(device_of(p.session.user_agent) for p in participants)),
        "errors": {"count": len(errors), "latest": errors[-20:]},
    }


def funnel(participants: list[Participant], scenes: list[str], states: dict[str, str]) -> list[dict[str, Any]]:
    """Per scene in flow order: how many reached it, finished it, left the study in it; median seconds in it."""
    rows: dict[str, dict[str, Any]] = {
        name: {"scene": name, "reached": 0, "finished": 0, "left_here": 0, "times": []} for name in scenes
    }
    for p in participants:
        started: dict[int, float] = {}
        for event in p.scene_events():
            row = rows.get(str(event.data.get("scene")))
            if row is None:
                continue
            index = event.data.get("index", -1)
            if event.type == "scene_start":
                if index not in started:
                    row["reached"] += 1
                started.setdefault(index, event.client_time_ms)
            elif index in started:
                row["finished"] += 1
                row["times"].append((event.client_time_ms - started[index]) / 1000)
        scene = p.current_scene()
        if states[p.session.session_id] == "gone" and scene in rows:
            rows[scene]["left_here"] += 1
    return [
        {**{k: v for k, v in row.items() if k != "times"}, "median_s": _median(row["times"])} for row in rows.values()
    ]


def participant_detail(participant: Participant, waiting: set[str], gone_after_s: float) -> dict[str, Any]:
    """One participant: the list entry plus their timeline, survey answers and episodes."""
    episodes = [
        {
            "scene": e.data.get("scene"),
            "episode": e.episode,
            "steps": e.data.get("steps", e.step),
            "returns": e.data.get("returns"),
            "attempt": e.data.get("attempt", 0),
        }
        for e in participant.events
        if e.type == "episode_end"
    ]
    return {
        **participant.summary(time.time(), gone_after_s, waiting),
        "user_agent": participant.session.user_agent,
        "timeline": [
            {"seq": e.seq, "type": e.type, "scene": e.data.get("scene"), "t": e.client_time_ms, "at": e.received_at}
            for e in participant.events
        ],
        "surveys": [
            {"scene": e.data.get("scene"), "answers": e.data.get("answers")}
            for e in participant.events
            if e.type == "survey"
        ],
        "episodes": episodes,
    }


def browser_of(user_agent: str) -> str:
    """A coarse browser name from a user agent."""
    for name, pattern in (
        ("Edge", r"Edg/"),
        ("Firefox", r"Firefox/"),
        ("Chrome", r"Chrom(e|ium)/"),
        ("Safari", r"Safari/"),
    ):
        if re.search(pattern, user_agent):
            return name
    return "other"


def device_of(user_agent: str) -> str:
    """desktop, tablet or mobile, from a user agent."""
    if re.search(r"iPad|Tablet", user_agent):
        return "tablet"
    return "mobile" if re.search(r"Mobi|Android|iPhone", user_agent) else "desktop"


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _deciles(values: list[float]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"p50": values[0] if values else None, "p90": values[0] if values else None}
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return {"p50": round(cuts[4], 1), "p90": round(cuts[8], 1)}
