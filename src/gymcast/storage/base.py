"""The storage interface the host uses; a server database can implement it too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

#: Events that show a session is really taking part; only such sessions count for balanced assignment.
ACTIVITY_EVENTS = frozenset({"scene_start", "run_start", "episode_start", "step"})
#: The event a page logs when the study stopped because of an error in it: it ends (and closes) the session.
ERROR_EVENT = "error"


class StorageError(Exception):
    """The data file cannot be used (a read-only folder, a missing disk); the message says what to fix."""


class SeqConflict(Exception):
    """A batch reuses stored seqs with different content; nothing of it was written."""

    def __init__(self, seqs: list[int]) -> None:
        super().__init__(f"seq {seqs[:5]} already stored with different content")
        self.seqs = seqs


class SessionClosed(Exception):
    """The session has completed, or ended by an error; it takes no more events."""


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
    #: the participant's earlier unfinished session, when this one was opened without proof of owning it
    duplicate_of: str | None = None
    #: sha256 of the resume secret the device keeps ("" when it sent none)
    resume_hash: str = ""
    #: when the study stopped because of an error in it (its `ERROR_EVENT` was stored), or None
    errored_at: float | None = None


@dataclass(frozen=True)
class Registration:
    """What the store holds about a session request, read in the transaction that then acts on it."""

    proposed: NewSession | None
    """The session with the id the browser proposed, if one exists."""
    participant_sessions: tuple[NewSession, ...]
    """The participant's sessions of the experiment, oldest first (none without a participant id)."""
    counts: Callable[[], dict[str, int]]
    """Per condition, the sessions that count for balanced assignment (see `condition_counts`)."""


@dataclass(frozen=True)
class Decision:
    """What a registration decides: "resume" or "create" `session`, or "refuse" with an HTTP `status` and `message`."""

    action: Literal["resume", "create", "refuse"]
    session: NewSession | None = None
    status: int = 0
    message: str = ""


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

    def ping(self) -> None:
        """Raise unless the storage answers (for `/readyz`)."""

    def create_session(self, session: NewSession) -> None:
        """Record a new session."""

    def session_exists(self, session_id: str) -> bool:
        """True when `session_id` was created here."""

    def get_session(self, session_id: str) -> NewSession | None:
        """The session with this id, or None."""

    def register_session(
        self,
        experiment: str,
        participant_id: str,
        proposed_id: str | None,
        counting: tuple[list[str], float],
        decide: Callable[[Registration], Decision],
    ) -> Decision:
        """Run `decide` on what is stored and carry out its decision, all in one exclusive transaction.

        `counting` is (conditions, active_since) for `Registration.counts`. A "create" decision inserts
        its session; concurrent requests for one participant or one session id are serialized.
        """

    def condition_counts(self, experiment: str, conditions: list[str], active_since: float) -> dict[str, int]:
        """Per condition, sessions that showed activity (`ACTIVITY_EVENTS`) and are not duplicates: those that
        completed, and those active since `active_since`."""

    def events_of_type(self, session_id: str, kind: str) -> list[StoredEvent]:
        """The session's stored events of one type, in seq order."""

    def next_seq(self, session_id: str) -> int:
        """One more than the highest stored seq of the session (1 when it has none)."""

    def append_events(self, session_id: str, events: list[dict[str, Any]]) -> list[int]:
        """Durably store `events` (each with seq, type, t, ...) and return every seq now stored.

        All or nothing. A seq already stored with the same content is acknowledged again (retries are
        harmless); with other content the batch raises SeqConflict. A completed session, or one that ended
        by an error, raises SessionClosed. A `completion` event marks the session completed; an
        `ERROR_EVENT` marks it ended by an error (`errored_at`).
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
