"""SQLite event store: WAL mode, one connection per thread, a commit is fsynced before any acknowledgement."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from gymcast.storage.base import StorageError
from gymcast.storage.sql import ADDED_SESSION_COLUMNS, SQLDialect, SQLEventStore

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
SQLITE = SQLDialect(placeholder="?", active_counts=ACTIVE_COUNTS, participant_order="created_at, rowid")


class SQLiteEventStore(SQLEventStore):
    """The default `EventStore`, in one SQLite file."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        super().__init__()
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

    def _begin(self, connection: sqlite3.Connection, lock: str | None) -> None:
        connection.execute("BEGIN IMMEDIATE")  # one writer at a time, whatever the lock

    def _end(self, connection: sqlite3.Connection, commit: bool) -> None:
        if commit:
            connection.commit()  # synchronous=FULL: on disk before this returns
        else:
            connection.rollback()


def _create_private(path: Path) -> None:
    """Create the data file (and its folder) readable by this user only, if it is new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
