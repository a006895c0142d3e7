"""Events as flat JSON records, and the JSONL export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

from gymcast.storage import EventStore, StoredEvent


def event_record(event: StoredEvent, duplicate_of: str | None = None) -> dict:
    """One event as a flat JSON object: ids, indices, times, then every logged field.

    `duplicate_of` names the participant's first session when this one was opened without proof of
    owning it (another device, or someone else using the participant's id).
    """
    return {
        "session_id": event.session_id,
        **({"duplicate_of": duplicate_of} if duplicate_of else {}),
        "seq": event.seq,
        "type": event.type,
        "episode": event.episode,
        "step": event.step,
        "wall_time": _iso(event.client_time_ms / 1000),
        "received_at": _iso(event.received_at),
        **event.data,
    }


def export_jsonl(store: EventStore, out: IO[str], session_id: str | None = None) -> int:
    """Write one JSON object per event to `out`; returns how many were written."""
    count = 0
    for record in event_records(store, session_id):
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
        count += 1
    return count


def event_records(store: EventStore, session_id: str | None = None) -> Iterator[dict]:
    """Every event (or one session's) as an `event_record`, in (session, seq) order."""
    duplicates = {s.session_id: s.duplicate_of for s in store.iter_sessions() if s.duplicate_of}
    for event in store.iter_events(session_id):
        yield event_record(event, duplicates.get(event.session_id))


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds")
