"""Where the host keeps sessions and events: one small interface, SQLite by default, PostgreSQL to scale out."""

from pathlib import Path

from gymcast.storage.base import (
    ACTIVITY_EVENTS,
    ERROR_EVENT,
    AdminEvent,
    Decision,
    EventStore,
    NewSession,
    Registration,
    RelayEvent,
    SeqConflict,
    SessionClosed,
    StorageError,
    StoredEvent,
)
from gymcast.storage.sqlite import SQLiteEventStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(data: str | Path) -> bool:
    """Whether `--data` names a PostgreSQL database (a URL) rather than a SQLite file."""
    return str(data).startswith(POSTGRES_SCHEMES)


def open_store(data: str | Path) -> EventStore:
    """The store `--data` names: a `postgresql://` URL, or else the path of a SQLite file."""
    if is_postgres(data):
        from gymcast.storage.postgres import PostgresEventStore

        return PostgresEventStore(str(data))
    return SQLiteEventStore(Path(data))


__all__ = [
    "ACTIVITY_EVENTS",
    "ERROR_EVENT",
    "AdminEvent",
    "Decision",
    "EventStore",
    "NewSession",
    "Registration",
    "RelayEvent",
    "SQLiteEventStore",
    "SeqConflict",
    "SessionClosed",
    "StorageError",
    "StoredEvent",
    "is_postgres",
    "open_store",
]
