"""What the relay's logic asks the outside world to do: messages to send, relay events to log, connections to close.

The waiting room, the groups and the coordinator only *collect* effects (sans-io, like Flask's sansio
layer); the endpoint performs them after the coordinator's lock is released, so a slow socket or disk
never stalls anyone else.
"""

from __future__ import annotations

from typing import Any, Protocol

from gymcast.relay.protocol import ServerMessages


class Peer(Protocol):
    """One browser's connection. Neither method may block: a real peer queues its sends."""

    def send(self, message: ServerMessages) -> None: ...

    def close(self) -> None: ...


class Effects:
    """Messages to send, relay events to log and connections to close, in the order they were collected."""

    def __init__(self) -> None:
        self.sends: list[tuple[Peer, ServerMessages]] = []
        self.records: list[tuple[str, str, dict[str, Any]]] = []
        self.closes: list[Peer] = []

    def send(self, peer: Peer | None, message: ServerMessages) -> None:
        """Send `message` to `peer` (nothing when the seat has no connection)."""
        if peer is not None:
            self.sends.append((peer, message))

    def record(self, group_id: str, kind: str, data: dict[str, Any]) -> None:
        """Log a relay event of `kind` for the group `group_id` ("" outside a group)."""
        self.records.append((group_id, kind, data))

    def close(self, peer: Peer) -> None:
        """Close `peer`'s connection once the sends before this are queued."""
        self.closes.append(peer)

    def extend(self, other: Effects) -> None:
        """Append `other`'s effects after these."""
        self.sends.extend(other.sends)
        self.records.extend(other.records)
        self.closes.extend(other.closes)
