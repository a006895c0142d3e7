"""SQLite event store: WAL mode, one connection per thread, a commit is fsynced before any acknowledgement."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
    StorageError,
    StoredEvent,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, build_id TEXT NOT NULL,
  url_params TEXT NOT NULL, user_agent TEXT NOT NULL, created_at REAL NOT NULL,
  participant_id TEXT NOT NULL DEFAULT '', condition TEXT, completed_at REAL);
CREATE TABLE IF NOT EXISTS events (
  session_id TEXT NOT NULL REFERENCES sessions(session_id), seq INTEGER NOT NULL,
  type TEXT NOT NULL, episode INTEGER, step INTEGER, client_time_ms REAL NOT NULL,
  received_at REAL NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relay_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, group_id TEXT NOT NULL, type TEXT NOT NULL,
  received_at REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_members (
  group_id TEXT NOT NULL, agent TEXT NOT NULL, session_id TEXT NOT NULL,
  PRIMARY KEY (group_id, agent));
CREATE INDEX IF NOT EXISTS group_members_by_session ON group_members (session_id);
CREATE TABLE IF NOT EXISTS completions (
  experiment TEXT NOT NULL, condition TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (experiment, condition));
CREATE TABLE IF NOT EXISTS admin_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, actor TEXT NOT NULL,
  at REAL NOT NULL, data TEXT NOT NULL);
"""
INDEXED = ("seq", "type", "episode", "step", "t")
#: Columns added after the first release, with their definitions, for databases created before them.
ADDED_SESSION_COLUMNS = {
    "participant_id": "TEXT NOT NULL DEFAULT ''",
    "condition": "TEXT",
    "completed_at": "REAL",
    "duplicate_of": "TEXT",
    "resume_hash": "TEXT NOT NULL DEFAULT ''",
    "counted_at": "REAL",
    "errored_at": "REAL",
}
SESSION_COLUMNS = (
    "session_id, experiment, build_id, url_params, user_agent, created_at, participant_id, condition, completed_at, "
    "duplicate_of, resume_hash, errored_at"
)
#: Per condition, the unfinished sessions active since a time (a range of the `sessions_counted` index).
ACTIVE_COUNTS = (
    "SELECT condition, COUNT(*) FROM sessions INDEXED BY sessions_counted WHERE experiment = ? AND counted_at >= ? "
    "AND completed_at IS NULL GROUP BY condition"
)
#: Sessions from before activity was tracked count from their creation.
BACKFILL_COUNTS = """
UPDATE sessions SET counted_at = created_at WHERE condition IS NOT NULL;
INSERT OR REPLACE INTO completions SELECT experiment, condition, COUNT(*) FROM sessions
  WHERE condition IS NOT NULL AND completed_at IS NOT NULL GROUP BY experiment, condition;
"""


class SQLiteEventStore:
    """The default `EventStore`, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        try:
            _create_private(path)
            with self._connection() as connection:
                connection.executescript(SCHEMA)
                present = {row[1] for row in connection.execute("PRAGMA table_info(sessions)")}
                for column, definition in ADDED_SESSION_COLUMNS.items():
                    if column not in present:
                        connection.execute(f"ALTER TABLE sessions ADD COLUMN {column} {definition}")
                if "counted_at" not in present:
                    connection.executescript(BACKFILL_COUNTS)
                connection.execute(
                    "CREATE INDEX IF NOT EXISTS sessions_by_participant ON sessions (experiment, participant_id)"
                )
                connection.execute("CREATE INDEX IF NOT EXISTS sessions_counted ON sessions (experiment, counted_at)")
        except (OSError, sqlite3.Error) as error:
            raise StorageError(
                f"cannot use {path} for the logs ({error}); give a --data path in a folder this user can write"
            ) from error

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level="DEFERRED")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
        return connection

    def host_secret(self) -> bytes:
        with self._connection() as connection:
            connection.execute("INSERT OR IGNORE INTO meta VALUES ('host_secret', ?)", (secrets.token_hex(32),))
            row = connection.execute("SELECT value FROM meta WHERE key = 'host_secret'").fetchone()
        return bytes.fromhex(row[0])

    def create_session(self, session: NewSession) -> None:
        with self._connection() as connection:
            self._insert_session(connection, session)

    def _insert_session(self, connection: sqlite3.Connection, session: NewSession) -> None:
        connection.execute(
            f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
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
            ),
        )

    def session_exists(self, session_id: str) -> bool:
        row = self._connection().execute("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return row is not None

    def get_session(self, session_id: str) -> NewSession | None:
        row = (
            self._connection()
            .execute(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,))
            .fetchone()
        )
        return _session(row) if row else None

    def register_session(
        self,
        experiment: str,
        participant_id: str,
        proposed_id: str | None,
        counting: tuple[list[str], float],
        decide: Callable[[Registration], Decision],
    ) -> Decision:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")  # one registration at a time: no two sessions for one request
        try:
            proposed = None
            if proposed_id:
                row = connection.execute(
                    f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (proposed_id,)
                ).fetchone()
                proposed = _session(row) if row else None
            rows = (
                connection.execute(
                    f"SELECT {SESSION_COLUMNS} FROM sessions WHERE experiment = ? AND participant_id = ? "
                    "ORDER BY created_at, rowid",
                    (experiment, participant_id),
                ).fetchall()
                if participant_id
                else []
            )
            registration = Registration(
                proposed, tuple(_session(row) for row in rows), lambda: self.condition_counts(experiment, *counting)
            )
            decision = decide(registration)
            if decision.action == "create" and decision.session is not None:
                self._insert_session(connection, decision.session)
            connection.commit()
            return decision
        except BaseException:
            connection.rollback()
            raise

    def condition_counts(self, experiment: str, conditions: list[str], active_since: float) -> dict[str, int]:
        counts = dict.fromkeys(conditions, 0)
        connection = self._connection()
        completed = connection.execute(
            "SELECT condition, count FROM completions WHERE experiment = ?", (experiment,)
        ).fetchall()
        active = connection.execute(ACTIVE_COUNTS, (experiment, active_since)).fetchall()
        for condition, count in [*completed, *active]:
            if condition in counts:
                counts[condition] += count
        return counts

    def events_of_type(self, session_id: str, kind: str) -> list[StoredEvent]:
        rows = self._connection().execute(
            "SELECT * FROM events WHERE session_id = ? AND type = ? ORDER BY seq", (session_id, kind)
        )
        return [StoredEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows]

    def next_seq(self, session_id: str) -> int:
        row = self._connection().execute("SELECT MAX(seq) FROM events WHERE session_id = ?", (session_id,)).fetchone()
        return (row[0] or 0) + 1

    def append_events(self, session_id: str, events: list[dict[str, Any]]) -> list[int]:
        received_at = time.time()
        rows = {
            e["seq"]: (
                session_id,
                e["seq"],
                e["type"],
                e.get("episode"),
                e.get("step"),
                e["t"],
                received_at,
                json.dumps({k: v for k, v in e.items() if k not in INDEXED}, separators=(",", ":")),
            )
            for e in events
        }
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            session = connection.execute(
                "SELECT experiment, condition, duplicate_of, counted_at, completed_at, errored_at FROM sessions "
                "WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            experiment, condition, duplicate_of, counted_at, completed_at, errored_at = session
            stored = self._stored_rows(connection, session_id, list(rows))
            conflicts = [seq for seq, row in stored.items() if not _same_event(row, rows[seq])]
            if conflicts:
                raise SeqConflict(sorted(conflicts))
            fresh = [row for seq, row in rows.items() if seq not in stored]
            if (completed_at is not None or errored_at is not None) and fresh:
                raise SessionClosed(session_id)
            connection.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", fresh)
            kinds = {row[2] for row in fresh}
            countable = condition is not None and duplicate_of is None
            counted = counted_at or (received_at if countable and kinds & ACTIVITY_EVENTS else None)
            completed = completed_at or (received_at if "completion" in kinds else None)
            if (counted, completed) != (counted_at, completed_at):
                connection.execute(
                    "UPDATE sessions SET counted_at = ?, completed_at = ? WHERE session_id = ?",
                    (counted, completed, session_id),
                )
                if counted and completed:  # it now counts as a completed session of its condition
                    connection.execute(
                        "INSERT INTO completions VALUES (?, ?, 1) "
                        "ON CONFLICT (experiment, condition) DO UPDATE SET count = count + 1",
                        (experiment, condition),
                    )
            if ERROR_EVENT in kinds:
                connection.execute("UPDATE sessions SET errored_at = ? WHERE session_id = ?", (received_at, session_id))
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        return [e["seq"] for e in events]

    @staticmethod
    def _stored_rows(connection: sqlite3.Connection, session_id: str, seqs: list[int]) -> dict[int, tuple]:
        """The stored rows among `seqs` of a session (seqs are bounded by the batch size)."""
        marks = ",".join("?" * len(seqs))
        found = connection.execute(
            f"SELECT * FROM events WHERE session_id = ? AND seq IN ({marks})", (session_id, *seqs)
        ).fetchall()
        return {row[1]: row for row in found}

    def iter_events(self, session_id: str | None = None) -> Iterator[StoredEvent]:
        query = "SELECT * FROM events" + (" WHERE session_id = ?" if session_id else "") + " ORDER BY session_id, seq"
        for row in self._connection().execute(query, (session_id,) if session_id else ()):
            yield StoredEvent(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))

    def append_relay_event(self, group_id: str, kind: str, data: dict[str, Any]) -> None:
        with self._connection() as connection:
            connection.execute(
                "INSERT INTO relay_events (group_id, type, received_at, data) VALUES (?, ?, ?, ?)",
                (group_id, kind, time.time(), json.dumps(data, separators=(",", ":"))),
            )
            if kind == "group_formed":
                connection.executemany(
                    "INSERT OR IGNORE INTO group_members VALUES (?, ?, ?)",
                    [(group_id, agent, session) for agent, session in data["members"].items()],
                )

    def iter_relay_events(self, group_id: str | None = None) -> Iterator[RelayEvent]:
        query = (
            "SELECT group_id, type, received_at, data FROM relay_events"
            + (" WHERE group_id = ?" if group_id else "")
            + " ORDER BY id"
        )
        for row in self._connection().execute(query, (group_id,) if group_id else ()):
            yield RelayEvent(row[0], row[1], row[2], json.loads(row[3]))

    def group_of(self, session_id: str) -> tuple[str, str] | None:
        row = (
            self._connection()
            .execute("SELECT group_id, agent FROM group_members WHERE session_id = ?", (session_id,))
            .fetchone()
        )
        return (row[0], row[1]) if row else None

    def iter_sessions(self) -> Iterator[NewSession]:
        for row in self._connection().execute(f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY created_at"):
            yield _session(row)

    # -- the researcher's dashboard (issue 19) -----------------------------------------------------

    def admin_token(self, rotate: bool = False) -> tuple[str, bool]:
        token = secrets.token_urlsafe(32)
        with self._connection() as connection:
            if rotate:
                connection.execute("DELETE FROM meta WHERE key = 'admin_token'")
            created = connection.execute("INSERT OR IGNORE INTO meta VALUES ('admin_token', ?)", (token,)).rowcount
            row = connection.execute("SELECT value FROM meta WHERE key = 'admin_token'").fetchone()
        return row[0], bool(created)

    def append_admin_event(self, kind: str, actor: str, data: dict[str, Any]) -> None:
        with self._connection() as connection:
            connection.execute(
                "INSERT INTO admin_events (type, actor, at, data) VALUES (?, ?, ?, ?)",
                (kind, actor, time.time(), json.dumps(data, separators=(",", ":"))),
            )

    def iter_admin_events(self, since: float = 0.0, kind: str | None = None) -> Iterator[AdminEvent]:
        query = "SELECT type, actor, at, data FROM admin_events WHERE at >= ?" + (" AND type = ?" if kind else "")
        for row in self._connection().execute(query + " ORDER BY id", (since, kind) if kind else (since,)):
            yield AdminEvent(row[0], row[1], row[2], json.loads(row[3]))

    def iter_events_except(self, excluded: tuple[str, ...]) -> Iterator[StoredEvent]:
        marks = ", ".join("?" * len(excluded)) or "''"
        query = f"SELECT * FROM events WHERE type NOT IN ({marks}) ORDER BY session_id, seq"
        for row in self._connection().execute(query, excluded):
            yield StoredEvent(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))

    def last_event_times(self) -> dict[str, float]:
        query = "SELECT session_id, MAX(received_at) FROM events GROUP BY session_id"
        return {row[0]: row[1] for row in self._connection().execute(query)}


def _session(row: tuple) -> NewSession:
    return NewSession(
        row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], row[8], row[9], row[10], row[11]
    )


def _same_event(stored: tuple, sent: tuple) -> bool:
    """Whether a resent event equals the stored one (the time received aside; JSON compared as values)."""
    return stored[2:6] == sent[2:6] and json.loads(stored[7]) == json.loads(sent[7])


def _create_private(path: Path) -> None:
    """Create the data file (and its folder) readable by this user only, if it is new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
