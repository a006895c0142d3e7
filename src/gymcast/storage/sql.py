"""The `EventStore` logic shared by the SQL databases: what is read, decided and written, once.

A dialect subclass supplies only its connections, how a locked transaction begins, and the few statements
whose syntax differs (`SQLDialect`); every query here is written with `?` placeholders.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from gymcast.storage.base import (
    ACTIVITY_EVENTS,
    ERROR_EVENT,
    AdminEvent,
    Decision,
    NewSession,
    Registration,
    RelayEvent,
    SeqConflict,
    SessionClosed,
    StoredEvent,
)

INDEXED: set[str] = {"seq", "type", "episode", "step", "t"}
"""An event's keys that have columns of their own; the rest is stored as JSON."""

SESSION_COLUMNS = (
    "session_id, experiment, build_id, url_params, user_agent, created_at, participant_id, condition, completed_at, "
    "duplicate_of, resume_hash, errored_at"
)
#: Columns added to `sessions` after the first release (portable definitions; REAL is a double in both dialects).
ADDED_SESSION_COLUMNS = {
    "participant_id": "TEXT NOT NULL DEFAULT ''",
    "condition": "TEXT",
    "completed_at": "REAL",
    "duplicate_of": "TEXT",
    "resume_hash": "TEXT NOT NULL DEFAULT ''",
    "counted_at": "REAL",
    "errored_at": "REAL",
}


@dataclass(frozen=True)
class SQLDialect:
    """The statements whose syntax differs between databases."""

    placeholder: str
    """How the driver marks a parameter ("?" or "%s")."""
    active_counts: str
    """Per condition, the unfinished sessions of an experiment active since a time (params: experiment, since)."""
    participant_order: str
    """ORDER BY terms for a participant's sessions, oldest first, ties in the order they were inserted."""


class SQLEventStore:
    """`EventStore` on a SQL database; subclasses implement `_connection`, `_begin` and `_end`."""

    dialect: SQLDialect

    def __init__(self) -> None:
        self._appends: list[_Append] = []  # batches waiting for the next group commit
        self._appends_lock = threading.Lock()
        self._commit_lock = threading.Lock()  # one group commit at a time in this process
        self._secret: bytes | None = None

    # --- what a dialect supplies ---------------------------------------------------------------------------
    def _connection(self) -> Any:
        """This thread's open connection (a DB-API connection with `execute`)."""
        raise NotImplementedError

    def _begin(self, connection: Any, lock: str | None) -> None:
        """Begin a write transaction; with `lock`, one that no other holder of the same lock runs beside."""
        raise NotImplementedError

    def _lock(self, connection: Any, lock: str) -> None:
        """Within a transaction, wait for `lock` (held until it ends); a no-op where transactions never overlap."""

    def _end(self, connection: Any, commit: bool) -> None:
        """Commit (durably, before returning) or roll back the transaction."""
        raise NotImplementedError

    def _executemany(self, connection: Any, sql: str, rows: list[tuple]) -> None:
        connection.executemany(self._sql(sql), rows)

    # --- shared ------------------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.dialect.placeholder == "?" else sql.replace("?", self.dialect.placeholder)

    def _execute(self, connection: Any, sql: str, params: tuple = ()) -> Any:
        return connection.execute(self._sql(sql), params)

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return list(self._execute(self._connection(), sql, params).fetchall())

    @contextmanager
    def _transaction(self, lock: str | None = None) -> Iterator[Any]:
        connection = self._connection()
        self._begin(connection, lock)
        try:
            yield connection
        except BaseException:
            self._end(connection, commit=False)
            raise
        self._end(connection, commit=True)

    def ping(self) -> None:
        self._query("SELECT 1")

    def host_secret(self) -> bytes:
        if self._secret is None:  # it never changes once stored: read it once (it is checked on every request)
            self._secret = self._stored_secret()
        return self._secret

    def _stored_secret(self) -> bytes:
        with self._transaction() as connection:
            self._execute(
                connection,
                "INSERT INTO meta VALUES ('host_secret', ?) ON CONFLICT (key) DO NOTHING",
                (secrets.token_hex(32),),
            )
            row = self._execute(connection, "SELECT value FROM meta WHERE key = 'host_secret'").fetchone()
        return bytes.fromhex(row[0])

    def create_session(self, session: NewSession) -> None:
        with self._transaction() as connection:
            self._insert_session(connection, session)

    def _insert_session(self, connection: Any, session: NewSession) -> None:
        self._execute(
            connection,
            f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            session_row(session),
        )

    def session_exists(self, session_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)))

    def get_session(self, session_id: str) -> NewSession | None:
        rows = self._query(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,))
        return stored_session(rows[0]) if rows else None

    def register_session(
        self,
        experiment: str,
        participant_id: str,
        proposed_id: str | None,
        counting: tuple[list[str], float],
        decide: Callable[[Registration], Decision],
    ) -> Decision:
        # one registration per experiment at a time: no two sessions for one request, balanced counts stay true
        with self._transaction(lock=f"register:{experiment}") as connection:
            proposed = None
            if proposed_id:
                row = self._execute(
                    connection, f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (proposed_id,)
                ).fetchone()
                proposed = stored_session(row) if row else None
            rows = (
                self._execute(
                    connection,
                    f"SELECT {SESSION_COLUMNS} FROM sessions WHERE experiment = ? AND participant_id = ? "
                    f"ORDER BY {self.dialect.participant_order}",
                    (experiment, participant_id),
                ).fetchall()
                if participant_id
                else []
            )
            registration = Registration(
                proposed,
                tuple(stored_session(row) for row in rows),
                lambda: self._condition_counts(connection, experiment, *counting),
            )
            decision = decide(registration)
            if decision.action == "create" and decision.session is not None:
                self._insert_session(connection, decision.session)
        return decision

    def condition_counts(self, experiment: str, conditions: list[str], active_since: float) -> dict[str, int]:
        return self._condition_counts(self._connection(), experiment, conditions, active_since)

    def _condition_counts(
        self, connection: Any, experiment: str, conditions: list[str], active_since: float
    ) -> dict[str, int]:
        counts = dict.fromkeys(conditions, 0)
        completed = self._execute(
            connection, "SELECT condition, count FROM completions WHERE experiment = ?", (experiment,)
        ).fetchall()
        active = self._execute(connection, self.dialect.active_counts, (experiment, active_since)).fetchall()
        for condition, count in [*completed, *active]:
            if condition in counts:
                counts[condition] += count
        return counts

    def events_of_type(self, session_id: str, kind: str) -> list[StoredEvent]:
        rows = self._query("SELECT * FROM events WHERE session_id = ? AND type = ? ORDER BY seq", (session_id, kind))
        return [stored_event(row) for row in rows]

    def next_seq(self, session_id: str) -> int:
        row = self._query("SELECT MAX(seq) FROM events WHERE session_id = ?", (session_id,))[0]
        return (row[0] or 0) + 1

    def append_events(self, session_id: str, events: list[dict[str, Any]]) -> list[int]:
        """Group commit: the batches that arrive while a commit runs are written together in the next
        transaction, each in its own savepoint (one batch's error rolls back only that batch), and each
        caller returns only after the commit that holds its batch."""
        job = _Append(session_id, events)
        with self._appends_lock:
            self._appends.append(job)
        with self._commit_lock:
            if not job.done:
                with self._appends_lock:
                    jobs, self._appends = sorted(self._appends, key=lambda j: j.session_id), []
                try:
                    with self._transaction() as connection:
                        for one in jobs:  # in session order: locks taken in one order never deadlock
                            self._append_in_savepoint(connection, one)
                except BaseException as error:  # the commit failed: no batch of it is stored
                    for one in jobs:
                        one.error = one.error or error
                for one in jobs:
                    one.done = True
        if job.error is not None:
            raise job.error
        return [e["seq"] for e in events]

    def _append_in_savepoint(self, connection: Any, job: _Append) -> None:
        self._execute(connection, "SAVEPOINT batch")
        try:
            self._append(connection, job.session_id, job.events)
        except Exception as error:
            self._execute(connection, "ROLLBACK TO SAVEPOINT batch")
            job.error = error
        self._execute(connection, "RELEASE SAVEPOINT batch")

    def _append(self, connection: Any, session_id: str, events: list[dict[str, Any]]) -> None:
        """Write one batch inside the current transaction (the rules of `EventStore.append_events`)."""
        received_at = time.time()
        rows = {e["seq"]: event_row(session_id, e, received_at) for e in events}
        self._lock(connection, f"session:{session_id}")
        experiment, condition, duplicate_of, counted_at, completed_at, errored_at = self._execute(
            connection,
            "SELECT experiment, condition, duplicate_of, counted_at, completed_at, errored_at FROM sessions "
            "WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        stored = self._stored_rows(connection, session_id, list(rows))
        conflicts = [seq for seq, row in stored.items() if not same_event(row, rows[seq])]
        if conflicts:
            raise SeqConflict(sorted(conflicts))
        fresh = [row for seq, row in rows.items() if seq not in stored]
        if (completed_at is not None or errored_at is not None) and fresh:
            raise SessionClosed(session_id)
        if fresh:
            self._executemany(connection, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", fresh)
        kinds = {row[2] for row in fresh}
        countable = condition is not None and duplicate_of is None
        counted = counted_at or (received_at if countable and kinds & ACTIVITY_EVENTS else None)
        completed = completed_at or (received_at if "completion" in kinds else None)
        if (counted, completed) != (counted_at, completed_at):
            self._execute(
                connection,
                "UPDATE sessions SET counted_at = ?, completed_at = ? WHERE session_id = ?",
                (counted, completed, session_id),
            )
            if counted and completed:  # it now counts as a completed session of its condition
                self._execute(
                    connection,
                    "INSERT INTO completions VALUES (?, ?, 1) "
                    "ON CONFLICT (experiment, condition) DO UPDATE SET count = completions.count + 1",
                    (experiment, condition),
                )
        if ERROR_EVENT in kinds:
            self._execute(
                connection, "UPDATE sessions SET errored_at = ? WHERE session_id = ?", (received_at, session_id)
            )

    def _stored_rows(self, connection: Any, session_id: str, seqs: list[int]) -> dict[int, tuple]:
        """The stored rows among `seqs` of a session (seqs are bounded by the batch size)."""
        marks = ",".join("?" * len(seqs))
        found = self._execute(
            connection, f"SELECT * FROM events WHERE session_id = ? AND seq IN ({marks})", (session_id, *seqs)
        ).fetchall()
        return {row[1]: row for row in found}

    def iter_events(self, session_id: str | None = None) -> Iterator[StoredEvent]:
        query = "SELECT * FROM events" + (" WHERE session_id = ?" if session_id else "") + " ORDER BY session_id, seq"
        for row in self._execute(self._connection(), query, (session_id,) if session_id else ()):
            yield stored_event(row)

    def append_relay_event(self, group_id: str, kind: str, data: dict[str, Any]) -> None:
        with self._transaction() as connection:
            self._execute(
                connection,
                "INSERT INTO relay_events (group_id, type, received_at, data) VALUES (?, ?, ?, ?)",
                (group_id, kind, time.time(), json.dumps(data, separators=(",", ":"))),
            )
            if kind == "group_formed":
                self._executemany(
                    connection,
                    "INSERT INTO group_members VALUES (?, ?, ?) ON CONFLICT (group_id, agent) DO NOTHING",
                    [(group_id, agent, session) for agent, session in data["members"].items()],
                )

    def iter_relay_events(self, group_id: str | None = None) -> Iterator[RelayEvent]:
        query = (
            "SELECT group_id, type, received_at, data FROM relay_events"
            + (" WHERE group_id = ?" if group_id else "")
            + " ORDER BY id"
        )
        for row in self._execute(self._connection(), query, (group_id,) if group_id else ()):
            yield RelayEvent(row[0], row[1], row[2], json.loads(row[3]))

    def group_of(self, session_id: str) -> tuple[str, str] | None:
        rows = self._query("SELECT group_id, agent FROM group_members WHERE session_id = ?", (session_id,))
        return (rows[0][0], rows[0][1]) if rows else None

    def iter_sessions(self) -> Iterator[NewSession]:
        for row in self._execute(self._connection(), f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY created_at"):
            yield stored_session(row)

    # -- the researcher's dashboard (issue 19) -----------------------------------------------------

    def admin_token(self, rotate: bool = False) -> tuple[str, bool]:
        # read on every dashboard request (a rotation by another process must end logins here too): no write
        # transaction unless the token is missing or replaced
        stored = [] if rotate else self._query("SELECT value FROM meta WHERE key = 'admin_token'")
        if stored:
            return stored[0][0], False
        with self._transaction(lock="admin_token") as connection:
            if rotate:
                self._execute(connection, "DELETE FROM meta WHERE key = 'admin_token'")
            created = self._execute(
                connection,
                "INSERT INTO meta VALUES ('admin_token', ?) ON CONFLICT (key) DO NOTHING",
                (secrets.token_urlsafe(32),),
            ).rowcount
            row = self._execute(connection, "SELECT value FROM meta WHERE key = 'admin_token'").fetchone()
        return row[0], bool(created)

    def append_admin_event(self, kind: str, actor: str, data: dict[str, Any]) -> None:
        with self._transaction() as connection:
            self._execute(
                connection,
                "INSERT INTO admin_events (type, actor, at, data) VALUES (?, ?, ?, ?)",
                (kind, actor, time.time(), json.dumps(data, separators=(",", ":"))),
            )

    def iter_admin_events(self, since: float = 0.0, kind: str | None = None) -> Iterator[AdminEvent]:
        query = "SELECT type, actor, at, data FROM admin_events WHERE at >= ?" + (" AND type = ?" if kind else "")
        for row in self._execute(self._connection(), query + " ORDER BY id", (since, kind) if kind else (since,)):
            yield AdminEvent(row[0], row[1], row[2], json.loads(row[3]))

    def iter_events_except(self, excluded: tuple[str, ...]) -> Iterator[StoredEvent]:
        marks = ", ".join("?" * len(excluded)) or "''"
        query = f"SELECT * FROM events WHERE type NOT IN ({marks}) ORDER BY session_id, seq"
        for row in self._execute(self._connection(), query, excluded):
            yield stored_event(row)

    def last_event_times(self) -> dict[str, float]:
        rows = self._query("SELECT session_id, MAX(received_at) FROM events GROUP BY session_id")
        return {row[0]: row[1] for row in rows}


@dataclass
class _Append:
    """One `append_events` call waiting for the group commit that writes it."""

    session_id: str
    events: list[dict[str, Any]]
    done: bool = False
    error: BaseException | None = None


def session_row(session: NewSession) -> tuple:
    """The `SESSION_COLUMNS` values of a session."""
    return (
        session.session_id,
        session.experiment,
        session.build_id,
        json.dumps(session.url_params),
        session.user_agent,
        session.created_at,
        session.participant_id,
        session.condition,
        session.completed_at,
        session.duplicate_of,
        session.resume_hash,
        session.errored_at,
    )


def stored_session(row: tuple) -> NewSession:
    """A session from its `SESSION_COLUMNS` values."""
    return NewSession(
        row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], row[8], row[9], row[10], row[11]
    )


def event_row(session_id: str, event: dict[str, Any], received_at: float) -> tuple:
    """The `events` row of one sent event: the indexed fields, then the rest as JSON."""
    return (
        session_id,
        event["seq"],
        event["type"],
        event.get("episode"),
        event.get("step"),
        event["t"],
        received_at,
        to_json(event, exclude=INDEXED).decode(),  # pydantic-core: this runs for every event, and `json` is 3× slower
    )


def stored_event(row: tuple) -> StoredEvent:
    """A `StoredEvent` from its `events` row."""
    return StoredEvent(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))


def same_event(stored: tuple, sent: tuple) -> bool:
    """Whether a resent event equals the stored one (the time received aside; JSON compared as values)."""
    return tuple(stored[2:6]) == tuple(sent[2:6]) and json.loads(stored[7]) == json.loads(sent[7])
