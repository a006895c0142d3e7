"""The relay's coordinator: it routes each event to the waiting room or group it concerns and returns effects.

Every entry point runs atomically on the relay's state (`RelayState.run`: under one lock in memory, or
as a transaction on Redis) and only *collects* effects (messages to send, events to log,
connections to close); the caller performs them after the lock is released, so a slow socket or disk
never stalls the others. It never steps an env.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from gymcast.contracts import MAX_BASE_SEED
from gymcast.relay.effects import Effects, Peer
from gymcast.relay.group import Choose, Group, Seat
from gymcast.relay.protocol import ClientMessages, End, Error, Join
from gymcast.relay.rules import GameRules
from gymcast.relay.state import ENDED_KEPT_S, MemoryRelayState, RelayState, RelayView
from gymcast.relay.waiting_room import Waiter, WaitingRoom


class Relay:
    """Matches players into groups and forwards actions, hashes and state between group members.

    `clock` (seconds: monotonic in one process, wall-clock time when the state is shared) and `choose`
    (draws a group's desync reference seat) are injectable for tests; `state` is where rooms and groups
    live (in memory by default).
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

    def join(self, peer: Peer, message: Join) -> Effects:
        """A browser joined (or came back): seat it in its group again, or put it in the waiting room."""
        return self.state.run(lambda view: self._join(view, peer, message))

    def receive(self, peer: Peer, session_id: str, message: ClientMessages) -> Effects:
        """A message from a browser that has joined (`join` itself is refused by the caller)."""
        return self.state.run(lambda view: self._receive(view, peer, session_id, message))

    def disconnect(self, peer: Peer, session_id: str, reason: str = "") -> Effects:
        """A browser's connection closed (`reason`, if known, is logged with a dropout)."""
        return self.state.run(lambda view: self._disconnect(view, peer, session_id, reason))

    def tick(self) -> Effects:
        """Timers: pings and notices in the waiting rooms, wait timeouts, and grace periods."""
        effects = self.state.run(self._tick_rooms)
        for group_id in self.state.due_groups(self.clock()):
            effects.extend(self.state.run(partial(self._tick_group, group_id=group_id)))
        self.state.forget_ended(self.clock() - ENDED_KEPT_S)
        return effects

    def overview(self) -> dict[str, Any]:
        """Who waits and which groups play, right now (for the dashboard): plain JSON values."""
        now = self.clock()
        waiting = self.state.run(
            lambda view: [
                {
                    "session_id": w.session_id,
                    "game": room.rules.game,
                    "waited_s": round(now - w.joined_at, 1),
                    "rtt_ms": w.rtt_ms,
                }
                for room in view.rooms()
                for w in list(room.waiters)
            ]
        )
        groups = {}
        for group_id in self.state.group_ids():
            group = self.state.run(partial(_group, group_id=group_id))
            if group is not None:
                groups[group_id] = {
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
        return {"waiting": waiting, "groups": groups}

    def end_group(self, group_id: str, reason: str) -> Effects | None:
        """End a live group on a researcher's request; None when no such group plays."""
        return self.state.run(partial(self._end_group, group_id=group_id, reason=reason))

    # -- the operations, each run atomically on a view of the state ---------------------------------

    def _join(self, view: RelayView, peer: Peer, message: Join) -> Effects:
        effects = Effects()
        now = self.clock()
        room = view.room(message.game)
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
            return effects
        seated = view.seat_of(message.session_id)
        ended = view.ended_seat(message.session_id) if seated is None else None
        if seated is not None:
            group, seat = seated
            group.rejoin(seat, peer, now, effects)
            self._free_if_ended(view, group, now)
        elif ended is not None:
            effects.send(peer, End(reason="group_ended", agent=ended.agent))
            effects.record(ended.group_id, "rejoin_refused", {"agent": ended.agent, "reason": "group_ended"})
        else:
            for other in view.rooms():
                other.leave(message.session_id)
            room.enter(peer, message.session_id, message.visible, now, effects)
        return effects

    def _receive(self, view: RelayView, peer: Peer, session_id: str, message: ClientMessages) -> Effects:
        effects = Effects()
        now = self.clock()
        seated = view.seat_of(session_id)  # a seated session waits in no room: the group first (the hot path)
        if seated is not None:
            if seated[1].peer == peer and not isinstance(message, Join):  # else: a replaced connection's
                group, seat = seated
                group.receive(seat, message, effects)
                self._free_if_ended(view, group, now)
            return effects
        waiter = self._waiter(view, session_id, peer)
        if waiter is not None and not isinstance(message, Join):
            room, found = waiter
            self._form_groups(view, room.rules, room.receive(found, message, now, effects), now, effects)
        return effects

    def _disconnect(self, view: RelayView, peer: Peer, session_id: str, reason: str) -> Effects:
        effects = Effects()
        now = self.clock()
        seated = view.seat_of(session_id)
        if seated is not None:  # a seated session waits in no room
            if seated[1].peer == peer:  # else: a connection that a rejoin replaced
                group, seat = seated
                group.dropout(seat, now, effects, reason)
                self._free_if_ended(view, group, now)
            return effects
        waiter = self._waiter(view, session_id, peer)
        if waiter is not None:
            waiter[0].leave(session_id)
        return effects

    def _tick_rooms(self, view: RelayView) -> Effects:
        effects = Effects()
        now = self.clock()
        for room in view.rooms():
            self._form_groups(view, room.rules, room.tick(now, effects), now, effects)
        return effects

    def _tick_group(self, view: RelayView, *, group_id: str) -> Effects:
        effects = Effects()
        now = self.clock()
        group = view.group(group_id)
        if group is not None:
            group.check_grace(now, effects)
            self._free_if_ended(view, group, now)
        return effects

    def _waiter(self, view: RelayView, session_id: str, peer: Peer) -> tuple[WaitingRoom, Waiter] | None:
        for room in view.rooms():
            waiter = room.find(session_id, peer)
            if waiter is not None:
                return room, waiter
        return None

    def _form_groups(
        self, view: RelayView, rules: GameRules, matches: list[list[Waiter]], now: float, effects: Effects
    ) -> None:
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
            view.add_group(group)
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

    def _end_group(self, view: RelayView, group_id: str, reason: str) -> Effects | None:
        group = view.group(group_id)
        if group is None or group.ended:
            return None
        effects = Effects()
        group.end(reason, effects)
        self._free_if_ended(view, group, self.clock())
        return effects

    def _free_if_ended(self, view: RelayView, group: Group, now: float) -> None:
        if group.ended:
            view.free_group(group, now)


def _group(view: RelayView, group_id: str) -> Group | None:
    """A live group as one read (for the dashboard)."""
    return view.group(group_id)
