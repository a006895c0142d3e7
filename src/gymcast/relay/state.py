"""Where the relay keeps its state: waiting rooms, live groups, who sits where, and recently ended seats.

`RelayState` runs each of the coordinator's operations atomically on a `RelayView` of the state.
`MemoryRelayState` keeps everything in this process and runs operations under one lock;
`redis_state.RedisRelayState` keeps it in Redis, shared by several host processes or machines, and
runs each operation as an optimistic transaction (re-run when another process changed what it read).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gymcast.relay.group import Group, Seat
from gymcast.relay.rules import GameRules
from gymcast.relay.waiting_room import WaitingRoom

ENDED_KEPT_S = 6 * 3600.0
"""How long a freed group's members are remembered, so that a late rejoin is refused rather than matched anew."""

T = TypeVar("T")


@dataclass(frozen=True)
class EndedSeat:
    """The seat a session had in a group that has ended and been freed."""

    group_id: str
    agent: str
    ended_at: float


class RelayView(Protocol):
    """The relay's state as one operation reads and changes it."""

    def room(self, game: str) -> WaitingRoom | None:
        """The waiting room of a networked game, or None for any other key."""
        ...

    def rooms(self) -> list[WaitingRoom]: ...

    def seat_of(self, session_id: str) -> tuple[Group, Seat] | None:
        """The live group and seat of a session."""
        ...

    def group(self, group_id: str) -> Group | None:
        """A live group, or None once it has been freed."""
        ...

    def add_group(self, group: Group) -> None: ...

    def free_group(self, group: Group, now: float) -> None:
        """Forget an ended group, remembering only which seat each member had."""
        ...

    def ended_seat(self, session_id: str) -> EndedSeat | None: ...


class RelayState(Protocol):
    """Runs the coordinator's operations on the relay's state."""

    def run(self, operation: Callable[[RelayView], T]) -> T:
        """Run `operation` atomically and return its result. It may be run more than once (a shared store
        re-runs it when another process changed what it read), so it must only read and change the view
        and return what it collected."""
        ...

    def due_groups(self, now: float) -> list[str]:
        """The groups whose timers (grace periods) may have run out by `now`."""
        ...

    def group_ids(self) -> list[str]:
        """Every live group's id (for the dashboard)."""
        ...

    def forget_ended(self, before: float) -> None:
        """Drop ended seats remembered since before `before`."""
        ...


class MemoryRelayState:
    """`RelayState` (and its only `RelayView`) in this process's memory, behind one lock."""

    def __init__(self, games: dict[str, GameRules]) -> None:
        self._rooms = {key: WaitingRoom(rules) for key, rules in games.items()}
        self._groups: dict[str, Group] = {}
        self._seats: dict[str, tuple[str, str]] = {}  # session_id -> (group_id, agent)
        self._ended: dict[str, EndedSeat] = {}
        self._lock = threading.Lock()

    def run(self, operation: Callable[[RelayView], T]) -> T:
        with self._lock:
            return operation(self)

    def due_groups(self, now: float) -> list[str]:
        return self.group_ids()

    def group_ids(self) -> list[str]:
        with self._lock:
            return list(self._groups)

    def room(self, game: str) -> WaitingRoom | None:
        return self._rooms.get(game)

    def rooms(self) -> list[WaitingRoom]:
        return list(self._rooms.values())

    def seat_of(self, session_id: str) -> tuple[Group, Seat] | None:
        found = self._seats.get(session_id)
        if found is None:
            return None
        group = self._groups[found[0]]
        return group, group.seats[found[1]]

    def group(self, group_id: str) -> Group | None:
        return self._groups.get(group_id)

    def add_group(self, group: Group) -> None:
        self._groups[group.group_id] = group
        for agent, seat in group.seats.items():
            self._seats[seat.session_id] = (group.group_id, agent)
            self._ended.pop(seat.session_id, None)

    def groups(self) -> list[Group]:
        return list(self._groups.values())

    def free_group(self, group: Group, now: float) -> None:
        del self._groups[group.group_id]
        for agent, seat in group.seats.items():
            del self._seats[seat.session_id]
            self._ended[seat.session_id] = EndedSeat(group.group_id, agent, now)

    def ended_seat(self, session_id: str) -> EndedSeat | None:
        return self._ended.get(session_id)

    def forget_ended(self, before: float) -> None:
        with self._lock:
            for session_id, ended in list(self._ended.items()):  # in the order they ended
                if ended.ended_at >= before:
                    return
                del self._ended[session_id]
