"""The storage interface the host uses; a server database can implement it too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class NewSession:
    """A participant session as the browser registers it."""

    session_id: str
    experiment: str
    build_id: str
    url_params: dict[str, str]
    user_agent: str
    created_at: float
    participant_id: str = ""
    condition: str | None = None
    completed_at: float | None = None


@dataclass(frozen=True)
class StoredEvent:
    """One logged event. `data` holds every field the browser sent besides the indexed ones."""

    session_id: str
    seq: int
    type: str
    episode: int | None
    step: int | None
    client_time_ms: float
    received_at: float
    data: dict[str, Any]


@dataclass(frozen=True)
class AdminEvent:
    """Something a researcher did from the dashboard (or a login attempt): who, when, what."""

    type: str
    actor: str
    at: float
    data: dict[str, Any]


@dataclass(frozen=True)
class RelayEvent:
    """Something the relay did for a group (formed, dropout, desync, rejoin, end); group "" = the waiting room."""

    group_id: str
    type: str
    received_at: float
    data: dict[str, Any]


class EventStore(Protocol):
    """Append-only event log keyed by `(session_id, seq)`."""

    def host_secret(self) -> bytes:
        """The secret that signs session tokens, created on first use and kept with the data."""

    def create_session(self, session: NewSession) -> None:
        """Record a new session."""

    def session_exists(self, session_id: str) -> bool:
        """True when `session_id` was created here."""

    def get_session(self, session_id: str) -> NewSession | None:
        """The session with this id, or None."""

    def latest_session_of(self, experiment: str, participant_id: str) -> NewSession | None:
        """The participant's most recent session of `experiment`, or None."""

    def condition_counts(self, experiment: str, conditions: list[str], active_since: float) -> dict[str, int]:
        """Per condition: sessions that completed, or were created after `active_since` (still active)."""

    def next_seq(self, session_id: str) -> int:
        """One more than the highest stored seq of the session (1 when it has none)."""

    def append_events(self, session_id: str, events: list[dict[str, Any]]) -> list[int]:
        """Durably store `events` (each with seq, type, t, ...) and return every seq now stored.

        All or nothing; a seq already stored is kept as first received (retries are harmless).
        A `completion` event marks the session completed.
        """

    def iter_events(self, session_id: str | None = None) -> Iterator[StoredEvent]:
        """Events in (session, seq) order, optionally for one session."""

    def iter_sessions(self) -> Iterator[NewSession]:
        """Every session in creation order."""

    def append_relay_event(self, group_id: str, kind: str, data: dict[str, Any]) -> None:
        """Durably log a relay event; a `group_formed` event's `members` {agent: session_id} are indexed."""

    def iter_relay_events(self, group_id: str | None = None) -> Iterator[RelayEvent]:
        """Relay events in the order they happened, optionally for one group."""

    def group_of(self, session_id: str) -> tuple[str, str] | None:
        """`(group_id, agent)` of the group a session played in, or None."""

    # -- the researcher's dashboard (issue 19) -----------------------------------------------------

    def admin_token(self, rotate: bool = False) -> tuple[str, bool]:
        """`(token, created)`: the dashboard's admin token, made on first use (or replaced when `rotate`)."""

    def append_admin_event(self, kind: str, actor: str, data: dict[str, Any]) -> None:
        """Durably log a dashboard action or login attempt."""

    def iter_admin_events(self, since: float = 0.0, kind: str | None = None) -> Iterator[AdminEvent]:
        """Admin events at or after `since` in the order they happened, optionally of one kind."""

    def iter_events_except(self, excluded: tuple[str, ...]) -> Iterator[StoredEvent]:
        """Events in (session, seq) order, leaving out the types in `excluded` (e.g. the many `step` events)."""

    def last_event_times(self) -> dict[str, float]:
        """Per session id: when its most recent event was received."""
