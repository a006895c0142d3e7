"""Where the host keeps sessions and events: one small interface, SQLite by default."""

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
]
