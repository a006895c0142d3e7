"""PostgreSQL event store (psycopg 3): several host processes and machines share one database.

Same logic as SQLite (`SQLEventStore`); transactions that must not run side by side (one session's appends,
one experiment's registrations) take a transaction-scoped advisory lock, and a commit is acknowledged only
after PostgreSQL made it durable (synchronous_commit on).
"""

from __future__ import annotations

import threading
from typing import Any

from gymcast.storage.base import StorageError
from gymcast.storage.sql import ADDED_SESSION_COLUMNS, SQLDialect, SQLEventStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, build_id TEXT NOT NULL,
  url_params TEXT NOT NULL, user_agent TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
  inserted BIGSERIAL);
CREATE TABLE IF NOT EXISTS events (
  session_id TEXT NOT NULL REFERENCES sessions(session_id), seq BIGINT NOT NULL,
  type TEXT NOT NULL, episode BIGINT, step BIGINT, client_time_ms DOUBLE PRECISION NOT NULL,
  received_at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS relay_events (
  id BIGSERIAL PRIMARY KEY, group_id TEXT NOT NULL, type TEXT NOT NULL,
  received_at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_members (
  group_id TEXT NOT NULL, agent TEXT NOT NULL, session_id TEXT NOT NULL,
  PRIMARY KEY (group_id, agent));
CREATE INDEX IF NOT EXISTS group_members_by_session ON group_members (session_id);
CREATE TABLE IF NOT EXISTS completions (
  experiment TEXT NOT NULL, condition TEXT NOT NULL, count BIGINT NOT NULL,
  PRIMARY KEY (experiment, condition));
CREATE TABLE IF NOT EXISTS admin_events (
  id BIGSERIAL PRIMARY KEY, type TEXT NOT NULL, actor TEXT NOT NULL,
  at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL);
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_by_participant ON sessions (experiment, participant_id);
CREATE INDEX IF NOT EXISTS sessions_counted ON sessions (experiment, counted_at);
"""
POSTGRES = SQLDialect(
    placeholder="%s",
    active_counts=(
        "SELECT condition, COUNT(*) FROM sessions WHERE experiment = ? AND counted_at >= ? "
        "AND completed_at IS NULL GROUP BY condition"
    ),
    participant_order="created_at, inserted",
)


class PostgresEventStore(SQLEventStore):
    """`EventStore` in a PostgreSQL database given by URL (`postgresql://USER@HOST:PORT/DB`)."""

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._local = threading.local()
        try:
            with self._transaction(lock="schema") as connection:  # workers starting together migrate once
                connection.execute(SCHEMA)
                for column, definition in ADDED_SESSION_COLUMNS.items():
                    pg_definition = definition.replace("REAL", "DOUBLE PRECISION")
                    connection.execute(f"ALTER TABLE sessions ADD COLUMN IF NOT EXISTS {column} {pg_definition}")
                connection.execute(INDEXES)
        except Exception as error:
            import psycopg

            if not isinstance(error, psycopg.Error):
                raise
            raise StorageError(f"cannot use the PostgreSQL database {redacted(url)} for the logs ({error})") from error

    def _connection(self) -> Any:
        import psycopg

        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.broken:
            connection = psycopg.connect(self.url, autocommit=True)  # transactions are explicit (`_begin`)
            connection.execute("SET synchronous_commit = on")
            self._local.connection = connection
        return connection

    def _executemany(self, connection: Any, sql: str, rows: list[tuple]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)

    def _begin(self, connection: Any, lock: str | None) -> None:
        connection.execute("BEGIN")
        if lock is not None:
            self._lock(connection, lock)

    def _lock(self, connection: Any, lock: str) -> None:
        connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))

    def _end(self, connection: Any, commit: bool) -> None:
        if connection.broken:
            return
        connection.execute("COMMIT" if commit else "ROLLBACK")


def redacted(url: str) -> str:
    """The URL without a password."""
    scheme, _, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return url
