"""The waiting room of one networked game: who waits, their round trips and visibility, timeouts, and matching."""

from __future__ import annotations

from dataclasses import dataclass

from gymcast.relay.effects import Effects, Peer
from gymcast.relay.protocol import Action, Error, Finished, Hash, Ping, Pong, Snapshot, Timeout, Visibility, Waiting
from gymcast.relay.rules import GameRules

PING_EVERY_S = 1.0


@dataclass
class Waiter:
    """A browser waiting to be matched; it can be matched once visible and its round trip is measured."""

    peer: Peer
    session_id: str
    joined_at: float
    visible: bool
    rtt_ms: float | None = None
    last_ping: float = 0.0
    last_notice: float = 0.0


class WaitingRoom:
    """Browsers waiting for a game, in arrival order. Matching takes the earliest ready ones; the caller
    seats each matched list in a new group."""

    def __init__(self, rules: GameRules) -> None:
        self.rules = rules
        self.waiters: list[Waiter] = []

    def find(self, session_id: str, peer: Peer | None = None) -> Waiter | None:
        """The waiter of `session_id` (only if it waits on `peer`, when given)."""
        for waiter in self.waiters:
            if waiter.session_id == session_id and (peer is None or waiter.peer == peer):
                return waiter
        return None

    def enter(self, peer: Peer, session_id: str, visible: bool, now: float, effects: Effects) -> None:
        """A browser joins (replacing an earlier connection of the same session)."""
        self.leave(session_id)
        self.waiters.append(Waiter(peer, session_id, now, visible, last_ping=now))
        effects.send(peer, Waiting(waited_s=0))
        effects.send(peer, Ping(t=now * 1000))

    def leave(self, session_id: str) -> None:
        """Forget `session_id`'s waiter, if any."""
        self.waiters = [waiter for waiter in self.waiters if waiter.session_id != session_id]

    def receive(
        self,
        waiter: Waiter,
        message: Pong | Visibility | Action | Hash | Snapshot | Finished,
        now: float,
        effects: Effects,
    ) -> list[list[Waiter]]:
        """A waiter's message: a pong (round trip) or its visibility; anything else is refused. Returns new matches."""
        if isinstance(message, Pong):
            sample = max(0.0, now * 1000 - message.t)
            waiter.rtt_ms = sample if waiter.rtt_ms is None else 0.7 * waiter.rtt_ms + 0.3 * sample
        elif isinstance(message, Visibility):
            waiter.visible = message.visible
        else:
            effects.send(
                waiter.peer, Error(message=f"{message.type!r} is not allowed before you are matched into a group")
            )
            return []
        return self.match()

    def tick(self, now: float, effects: Effects) -> list[list[Waiter]]:
        """Timeouts, pings and waiting notices; returns new matches."""
        for waiter in list(self.waiters):
            waited = now - waiter.joined_at
            if waited >= self.rules.wait_timeout_s:
                self._timeout(waiter, waited, effects)
                continue
            if now - waiter.last_ping >= PING_EVERY_S:
                waiter.last_ping = now
                effects.send(waiter.peer, Ping(t=now * 1000))
            if now - waiter.last_notice >= PING_EVERY_S:
                waiter.last_notice = now
                effects.send(waiter.peer, Waiting(waited_s=round(waited, 1)))
        return self.match()

    def match(self) -> list[list[Waiter]]:
        """Take the earliest visible waiters whose round trip has been measured, one list per full group."""
        seats = len(self.rules.seats)
        matches: list[list[Waiter]] = []
        while True:
            ready = [waiter for waiter in self.waiters if waiter.visible and waiter.rtt_ms is not None][:seats]
            if len(ready) < seats:
                return matches
            taken = {id(waiter) for waiter in ready}
            self.waiters = [waiter for waiter in self.waiters if id(waiter) not in taken]
            matches.append(ready)

    def _timeout(self, waiter: Waiter, waited: float, effects: Effects) -> None:
        rules = self.rules
        self.leave(waiter.session_id)
        effects.send(
            waiter.peer,
            Timeout(
                waited_s=round(waited, 1),
                on_timeout=rules.on_timeout,
                code=rules.timeout_code,
                redirect=rules.timeout_redirect,
            ),
        )
        effects.record(
            "",
            "wait_timeout",
            {
                "session_id": waiter.session_id,
                "game": rules.game,
                "waited_s": round(waited, 3),
                "on_timeout": rules.on_timeout,
            },
        )
