"""Where the host keeps sessions and events: one small interface, SQLite by default."""

from gymcast.storage.base import AdminEvent, EventStore, NewSession, RelayEvent, StoredEvent
from gymcast.storage.sqlite import SQLiteEventStore

__all__ = ["AdminEvent", "EventStore", "NewSession", "RelayEvent", "StoredEvent", "SQLiteEventStore"]
