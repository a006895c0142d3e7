"""The relay's coordinator: one lock around the waiting rooms and groups; it routes each event and returns effects.

Every entry point runs under the lock and only *collects* effects (messages to send, events to log,
connections to close); the caller performs them after the lock is released, so a slow socket or disk
never stalls the others. It never steps an env.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from gymcast.contracts import MAX_BASE_SEED
from gymcast.relay.effects import Effects, Peer
from gymcast.relay.group import Choose, Group, Seat
from gymcast.relay.protocol import ClientMessages, End, Error, Join
from gymcast.relay.rules import GameRules
from gymcast.relay.state import ENDED_KEPT_S, MemoryRelayState, RelayState
from gymcast.relay.waiting_room import Waiter, WaitingRoom


class Relay:
    """Matches players into groups and forwards actions, hashes and state between group members.

    `clock` (seconds, monotonic) and `choose` (draws a group's desync reference seat) are injectable
    for tests; `state` is where rooms and groups live (in memory by default).
    """

    def __init__(
        self,
        games: dict[str, GameRules],
        clock: Callable[[], float] = time.monotonic,
        choose: Choose = secrets.choice,
        state: RelayState | None = None,
    ) -> None:
        self.games = games
        self.clock = clock
        self.choose = choose
        self.state: RelayState = state if state is not None else MemoryRelayState(games)
        self._lock = threading.Lock()

    def join(self, peer: Peer, message: Join) -> Effects:
        """A browser joined (or came back): seat it in its group again, or put it in the waiting room."""
        effects = Effects()
        with self._lock:
            now = self.clock()
            room = self.state.room(message.game)
            seated = self.state.seat_of(message.session_id)
            ended = self.state.ended_seat(message.session_id)
            if room is None:
                networked = sorted(self.games)
                effects.send(
                    peer,
                    Error(
                        message=f"game {message.game!r} is not a networked game of this bundle; "
                        f"networked games: {networked}"
                    ),
                )
                effects.close(peer)
            elif seated is not None:
                group, seat = seated
                group.rejoin(seat, peer, now, effects)
                self._free_if_ended(group, now)
            elif ended is not None:
                effects.send(peer, End(reason="group_ended", agent=ended.agent))
                effects.record(ended.group_id, "rejoin_refused", {"agent": ended.agent, "reason": "group_ended"})
            else:
                for other in self.state.rooms():
                    other.leave(message.session_id)
                room.enter(peer, message.session_id, message.visible, now, effects)
        return effects

    def receive(self, peer: Peer, session_id: str, message: ClientMessages) -> Effects:
        """A message from a browser that has joined (`join` itself is refused by the caller)."""
        effects = Effects()
        with self._lock:
            now = self.clock()
            waiter = self._waiter(session_id, peer)
            if waiter is not None:
                room, found = waiter
                if not isinstance(message, Join):
                    self._form_groups(room.rules, room.receive(found, message, now, effects), now, effects)
                return effects
            seated = self.state.seat_of(session_id)
            if seated is not None and seated[1].peer is peer and not isinstance(message, Join):
                group, seat = seated
                group.receive(seat, message, effects)
                self._free_if_ended(group, now)
        return effects

    def disconnect(self, peer: Peer, session_id: str, reason: str = "") -> Effects:
        """A browser's connection closed (`reason`, if known, is logged with a dropout)."""
        effects = Effects()
        with self._lock:
            now = self.clock()
            waiter = self._waiter(session_id, peer)
            if waiter is not None:
                waiter[0].leave(session_id)
                return effects
            seated = self.state.seat_of(session_id)
            if seated is not None and seated[1].peer is peer:
                group, seat = seated
                group.dropout(seat, now, effects, reason)
                self._free_if_ended(group, now)
        return effects

    def tick(self) -> Effects:
        """Timers: pings and notices in the waiting rooms, wait timeouts, and grace periods."""
        effects = Effects()
        with self._lock:
            now = self.clock()
            for room in self.state.rooms():
                self._form_groups(room.rules, room.tick(now, effects), now, effects)
            for group in self.state.groups():
                group.check_grace(now, effects)
                self._free_if_ended(group, now)
            self.state.forget_ended(now - ENDED_KEPT_S)
        return effects

    def overview(self) -> dict[str, Any]:
        """Who waits and which groups play, right now (for the dashboard): plain JSON values."""
        with self._lock:
            now = self.clock()
            waiting = [
                {
                    "session_id": w.session_id,
                    "game": room.rules.game,
                    "waited_s": round(now - w.joined_at, 1),
                    "rtt_ms": w.rtt_ms,
                }
                for room in self.state.rooms()
                for w in list(room.waiters)
            ]
            groups = {
                group.group_id: {
                    "game": group.rules.game,
                    "ended": group.ended,
                    "input_delay": group.input_delay,
                    "seats": {
                        agent: {
                            "session_id": seat.session_id,
                            "controller": seat.controller,
                            "connected": seat.peer is not None,
                        }
                        for agent, seat in group.seats.items()
                    },
                }
                for group in self.state.groups()
            }
        return {"waiting": waiting, "groups": groups}

    def end_group(self, group_id: str, reason: str) -> Effects | None:
        """End a live group on a researcher's request; None when no such group plays."""
        effects = Effects()
        with self._lock:
            group = next((g for g in self.state.groups() if g.group_id == group_id and not g.ended), None)
            if group is None:
                return None
            group.end(reason, effects)
            self._free_if_ended(group, self.clock())
        return effects

    def _waiter(self, session_id: str, peer: Peer) -> tuple[WaitingRoom, Waiter] | None:
        for room in self.state.rooms():
            waiter = room.find(session_id, peer)
            if waiter is not None:
                return room, waiter
        return None

    def _form_groups(self, rules: GameRules, matches: list[list[Waiter]], now: float, effects: Effects) -> None:
        for waiters in matches:
            seed = rules.seed if rules.seed is not None else secrets.randbelow(MAX_BASE_SEED + 1)
            seats = {agent: Seat(agent, waiter.session_id, waiter.peer) for agent, waiter in zip(rules.seats, waiters)}
            rtts = [waiter.rtt_ms or 0.0 for waiter in waiters]
            group = Group(
                uuid.uuid4().hex,
                rules,
                seats,
                seed,
                rules.input_delay_for(rtts),
                reference=self.choose(rules.seats),
                choose=self.choose,
            )
            self.state.add_group(group)
            effects.record(
                group.group_id,
                "group_formed",
                {
                    "game": rules.game,
                    "seed": seed,
                    "input_delay": group.input_delay,
                    "members": {agent: seat.session_id for agent, seat in seats.items()},
                    "waited_s": {w.session_id: round(now - w.joined_at, 3) for w in waiters},
                    "rtt_ms": {w.session_id: round(w.rtt_ms or 0.0, 3) for w in waiters},
                },
            )
            for seat, waiter in zip(seats.values(), waiters):
                effects.send(seat.peer, group.matched(seat, rejoin=False, rtt_ms=round(waiter.rtt_ms or 0.0, 3)))

    def _free_if_ended(self, group: Group, now: float) -> None:
        if group.ended:
            self.state.free_group(group, now)
