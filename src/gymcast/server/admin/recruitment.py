"""Recruitment switches the dashboard sets: closed to new participants, and participants let back in."""

from __future__ import annotations

from gymcast.storage import EventStore, NewSession

CLOSED_MESSAGE = "This study is not taking participants right now. Thank you for your interest."


def recruitment_open(store: EventStore) -> bool:
    """False after a researcher closed recruitment (and did not reopen it)."""
    state = True
    for event in store.iter_admin_events():
        if event.type in ("recruitment_closed", "recruitment_opened"):
            state = event.type == "recruitment_opened"
    return state


def may_retake(store: EventStore, previous: NewSession) -> bool:
    """True when a researcher let this completed session's participant take the study again after it began."""
    return bool(previous.participant_id) and any(
        e.data.get("participant_id") == previous.participant_id
        and e.data.get("experiment") in (None, previous.experiment)
        for e in store.iter_admin_events(since=previous.created_at, kind="retake_allowed")
    )


def new_session_refusal(store: EventStore) -> str | None:
    """Called by session creation just before it creates a NEW session (returning participants with an
    unfinished session never get here): the message to refuse with while recruitment is closed."""
    return None if recruitment_open(store) else CLOSED_MESSAGE
