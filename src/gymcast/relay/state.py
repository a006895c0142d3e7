"""Where the relay keeps its state: waiting rooms, live groups, who sits where, and recently ended seats.

`RelayState` is the small interface the coordinator uses; `MemoryRelayState` keeps everything in this
process. A shared store (for example Redis, so several host processes can match players) implements
the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gymcast.relay.group import Group, Seat
from gymcast.relay.rules import GameRules
from gymcast.relay.waiting_room import WaitingRoom

ENDED_KEPT_S = 6 * 3600.0
"""How long a freed group's members are remembered, so that a late rejoin is refused rather than matched anew."""


@dataclass(frozen=True)
class EndedSeat:
    """The seat a session had in a group that has ended and been freed."""

    group_id: str
    agent: str
    ended_at: float


class RelayState(Protocol):
    """The relay's state, as the coordinator reads and changes it (always under its lock)."""

    def room(self, game: str) -> WaitingRoom | None:
        """The waiting room of a networked game, or None for any other key."""
        ...

    def rooms(self) -> list[WaitingRoom]: ...

    def seat_of(self, session_id: str) -> tuple[Group, Seat] | None:
        """The live group and seat of a session."""
        ...

    def add_group(self, group: Group) -> None: ...

    def groups(self) -> list[Group]: ...

    def free_group(self, group: Group, now: float) -> None:
        """Forget an ended group, remembering only which seat each member had."""
        ...

    def ended_seat(self, session_id: str) -> EndedSeat | None: ...

    def forget_ended(self, before: float) -> None:
        """Drop ended seats remembered since before `before`."""
        ...


class MemoryRelayState:
    """`RelayState` in this process's memory."""

    def __init__(self, games: dict[str, GameRules]) -> None:
        self._rooms = {key: WaitingRoom(rules) for key, rules in games.items()}
        self._groups: dict[str, Group] = {}
        self._seats: dict[str, tuple[str, str]] = {}  # session_id -> (group_id, agent)
        self._ended: dict[str, EndedSeat] = {}

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
        for session_id, ended in list(self._ended.items()):  # in the order they ended
            if ended.ended_at >= before:
                return
            del self._ended[session_id]
