"""Where the host keeps sessions and events: one small interface, SQLite by default."""

from gymcast.storage.base import EventStore, NewSession, RelayEvent, StoredEvent
from gymcast.storage.sqlite import SQLiteEventStore

__all__ = ["EventStore", "NewSession", "RelayEvent", "StoredEvent", "SQLiteEventStore"]
