"""One group of matched players: forwarding actions, comparing state hashes, desync repair, dropouts, rejoins, grace.

Desync repair. Every `hash_every` steps each connected human seat reports a hash of its state. When a
step's hashes disagree, the group asks one seat, the *reference*, for its state at that step and sends
it to the seats that disagree with it. So that no member can impose its state unchallenged:

* the reference is drawn at random (by the host, with `secrets`) when the group forms, and kept; when
  more than two seats report and a strict majority agree, the reference comes from that majority;
* a repair must be *confirmed*: the next step that every seat hashes after receiving the repair must
  agree everywhere. Then `repair_confirmed` is logged. If it does not, `repair_unconfirmed` is logged
  and the group ends with reason "desync_unresolved" (one side keeps a state the other rejects, so
  continuing would not be one game);
* a group that needs more than `MAX_REPAIRS` repairs (a seat that keeps disagreeing) logs
  `desync_limit` and ends the same way.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gymcast.relay.effects import Effects, Peer
from gymcast.relay.protocol import (
    Action,
    End,
    Error,
    Finished,
    ForwardedAction,
    Hash,
    Matched,
    Pong,
    SeatNotice,
    Snapshot,
    SnapshotRequest,
    State,
    Visibility,
)
from gymcast.relay.rules import GameRules

KEPT_HASH_STEPS = 64
MAX_REPAIRS = 5
NOT_YET = (-1, -1)
Choose = Callable[[Sequence[str]], str]


@dataclass
class Seat:
    """A seat of the group and who plays it."""

    agent: str
    session_id: str
    peer: Peer | None
    controller: str = "human"  # "human", "fallback" (played by the proxy's fallback) or "absent"
    last_action: tuple[int, int] = NOT_YET
    disconnected_at: float | None = None
    abandoned: bool = False
    finished: bool = False
    repairs_sent: int = 0  # desync repair states sent to this seat; older hashes predate a repair


@dataclass
class Request:
    """A snapshot asked of the seat `source`, to be sent to `targets`."""

    source: str
    reason: Literal["desync", "rejoin"]
    targets: list[str]
    at: tuple[int, int]


@dataclass
class Repair:
    """A desync repair from `reference` to `targets`: requested (`request_id`), then sent and awaiting confirmation."""

    at: tuple[int, int]
    reference: str
    targets: list[str]
    request_id: int | None


@dataclass
class Group:
    """A game played together. Its methods collect effects; `ended` tells the owner to free it."""

    group_id: str
    rules: GameRules
    seats: dict[str, Seat]
    seed: int
    input_delay: int
    reference: str
    choose: Choose = secrets.choice
    proxy: str | None = None
    hashes: dict[tuple[int, int], dict[str, str]] = field(default_factory=dict)
    requests: dict[int, Request] = field(default_factory=dict)
    repair: Repair | None = None
    repairs: int = 0
    ended: bool = False
    stale_actions: int = 0
    stand_ins: set[str] = field(default_factory=set)  # seats that have ever played for another seat
    _next_request: int = 1

    def connected(self, exclude: str | None = None) -> list[Seat]:
        """Seats with a live connection (but `exclude`)."""
        return [seat for seat in self.seats.values() if seat.peer is not None and seat.agent != exclude]

    def matched(self, seat: Seat, rejoin: bool, rtt_ms: float | None = None) -> Matched:
        """The message that seats `seat` in this group."""
        return Matched(
            group_id=self.group_id,
            seat=seat.agent,
            seats=list(self.seats),
            seed=self.seed,
            input_delay=self.input_delay,
            hash_every=self.rules.hash_every,
            rejoin=rejoin,
            controllers={agent: s.controller for agent, s in self.seats.items()},
            rtt_ms=rtt_ms,
        )

    # -- messages from members ---------------------------------------------------------------------

    def receive(
        self, seat: Seat, message: Action | Hash | Snapshot | Finished | Pong | Visibility, effects: Effects
    ) -> None:
        """A message from the member playing `seat`."""
        if isinstance(message, Action):
            self._action(seat, message, effects)
        elif isinstance(message, Hash):
            self._hash(seat, message, effects)
        elif isinstance(message, Snapshot):
            self._snapshot(seat, message, effects)
        elif isinstance(message, Finished):
            seat.finished = True
            if all(s.finished or s.abandoned or s.peer is None for s in self.seats.values()):
                self.end("finished", effects)
        elif not isinstance(message, (Pong, Visibility)):
            effects.send(seat.peer, Error(message=f"{message.type!r} is not expected during a game"))

    def _action(self, sender: Seat, message: Action, effects: Effects) -> None:
        seat = self.seats.get(message.agent)
        if seat is None:
            effects.send(
                sender.peer,
                Error(message=f"agent {message.agent!r} is not a seat of your group; seats: {list(self.seats)}"),
            )
            return
        own = seat is sender and seat.controller == "human"
        stand_in = seat.controller == "fallback" and self.proxy == sender.agent
        if not (own or stand_in):
            if sender.agent in self.stand_ins and seat is not sender:
                self.stale_actions += 1  # a stand-in's action that crossed a hand-over: expected, counted
            else:
                effects.send(sender.peer, Error(message=f"you do not control seat {message.agent!r}"))
            return
        key = (message.episode, message.step)
        if key <= seat.last_action:
            self.stale_actions += 1
            return
        seat.last_action = key
        forwarded = ForwardedAction(
            episode=message.episode, step=message.step, agent=message.agent, action=message.action
        )
        for member in self.connected(exclude=None if stand_in else sender.agent):
            effects.send(member.peer, forwarded)

    def _hash(self, seat: Seat, message: Hash, effects: Effects) -> None:
        if message.repairs < seat.repairs_sent:
            return  # hashed before the repair on its way reached this browser: it says nothing new
        key = (message.episode, message.step)
        reported = self.hashes.setdefault(key, {})
        reported[seat.agent] = message.hash
        while len(self.hashes) > KEPT_HASH_STEPS:
            self.hashes.pop(next(iter(self.hashes)))
        expected = {s.agent for s in self.connected() if s.controller == "human"}
        if not expected <= set(reported):
            return
        del self.hashes[key]
        agree = len(set(reported.values())) <= 1
        repair = self.repair
        if repair is not None and repair.request_id is None:
            self._confirm(repair, key, reported, agree, effects)
        elif not agree and repair is None:
            self._desync(key, reported, expected, effects)

    def _confirm(
        self, repair: Repair, key: tuple[int, int], reported: dict[str, str], agree: bool, effects: Effects
    ) -> None:
        """The first full round of hashes after a repair reached its targets decides whether it held."""
        self.repair = None
        if not set(repair.targets) <= set(reported):
            return  # a repaired seat left; a rejoin sends it a fresh state anyway
        data = {"episode": key[0], "step": key[1], "reference": repair.reference, "repaired": repair.targets}
        if agree:
            effects.record(self.group_id, "repair_confirmed", data | {"repair_step": list(repair.at)})
            return
        effects.record(self.group_id, "repair_unconfirmed", data | {"hashes": dict(reported)})
        self.end("desync_unresolved", effects)

    def _desync(self, key: tuple[int, int], reported: dict[str, str], expected: set[str], effects: Effects) -> None:
        self.repairs += 1
        if self.repairs > MAX_REPAIRS:
            effects.record(
                self.group_id,
                "desync_limit",
                {"episode": key[0], "step": key[1], "hashes": dict(reported), "repairs": MAX_REPAIRS},
            )
            self.end("desync_unresolved", effects)
            return
        reference = self._choose_reference(reported, expected)
        targets = [agent for agent, value in reported.items() if value != reported[reference]]
        effects.record(
            self.group_id,
            "desync",
            {"episode": key[0], "step": key[1], "hashes": dict(reported), "reference": reference, "repairing": targets},
        )
        request_id = self._request_snapshot(reference, key, "desync", targets, effects)
        self.repair = Repair(key, reference, targets, request_id)

    def _choose_reference(self, reported: dict[str, str], expected: set[str]) -> str:
        """A strict majority's seat if there is one (the group's reference if it is in it), else the group's
        reference; a new random draw when that seat is not playing."""
        value, count = Counter(reported.values()).most_common(1)[0]
        majority = sorted(agent for agent, hash_ in reported.items() if hash_ == value)
        if 2 * count > len(reported) and count < len(reported):
            return self.reference if self.reference in majority else self.choose(majority)
        if self.reference not in expected:
            self.reference = self.choose(sorted(expected))
        return self.reference

    def _request_snapshot(
        self,
        source: str,
        at: tuple[int, int],
        reason: Literal["desync", "rejoin"],
        targets: list[str],
        effects: Effects,
    ) -> int:
        request_id = self._next_request
        self._next_request += 1
        self.requests[request_id] = Request(source, reason, targets, at)
        effects.send(
            self.seats[source].peer,
            SnapshotRequest(request_id=request_id, episode=at[0], step=at[1], reason=reason),
        )
        return request_id

    def _snapshot(self, seat: Seat, message: Snapshot, effects: Effects) -> None:
        request = self.requests.get(message.request_id)
        if request is None or request.source != seat.agent:
            effects.send(seat.peer, Error(message=f"no snapshot was requested from you with id {message.request_id}"))
            return
        del self.requests[message.request_id]
        state = State(
            reason=request.reason,
            from_seat=seat.agent,
            episode=message.episode,
            step=message.step,
            state=message.state,
            returns=message.returns,
            episode_over=message.episode_over,
            inputs=[list(entry) for entry in message.inputs],
        )
        if request.reason == "desync" and self.repair is not None and self.repair.request_id == message.request_id:
            self.repair.request_id = None  # sent: the next full round of hashes confirms it or not
        for agent in request.targets:
            if request.reason == "rejoin":
                # The rejoining browser continues from this state and sends its actions after it (the ones the
                # state's inputs hold excepted): accept those, even for steps its lost connection got to first.
                self.seats[agent].last_action = (message.episode, message.step)
            if request.reason == "desync":
                self.seats[agent].repairs_sent += 1
                for reported in self.hashes.values():
                    reported.pop(agent, None)  # taken before this repair, like the ones `_hash` ignores from now on
            effects.send(self.seats[agent].peer, state)
        effects.record(
            self.group_id,
            "state_sent",
            {
                "reason": request.reason,
                "from": seat.agent,
                "to": request.targets,
                "episode": message.episode,
                "step": message.step,
                "bytes": len(message.state),
            },
        )

    # -- dropouts, grace and rejoining -------------------------------------------------------------

    def dropout(self, seat: Seat, now: float, effects: Effects, reason: str = "") -> None:
        """`seat`'s connection closed (for `reason`): a stand-in or nobody plays it while its grace period runs."""
        seat.peer = None
        seat.disconnected_at = now
        effects.record(
            self.group_id,
            "dropout",
            {
                "agent": seat.agent,
                "session_id": seat.session_id,
                "last_action": list(seat.last_action),
                "finished": seat.finished,
                "reason": reason,
            },
        )
        if seat.finished:
            return
        if not self.connected():
            self.end("everyone_left", effects)
            return
        for request_id, request in list(self.requests.items()):
            if request.source != seat.agent:
                continue
            del self.requests[request_id]
            if request.reason == "rejoin":
                target = request.targets[0]
                others = [s.agent for s in self.connected(exclude=target)]
                if others:
                    at = max(self.seats[target].last_action, (0, 0))
                    self._request_snapshot(others[0], at, "rejoin", [target], effects)
            elif self.repair is not None and self.repair.request_id == request_id:
                self.repair = None  # the reference left before answering; a later disagreement starts afresh
        seat.controller = "absent" if self.rules.on_dropout == "end" else "fallback"
        self._choose_proxy(effects, announcing=seat.agent)
        self._announce_seat(seat, effects)

    def _choose_proxy(self, effects: Effects, announcing: str | None = None) -> None:
        """The first connected seat stands in for every fallback seat; tell everyone when that changes
        (except about the seat `announcing`, which the caller announces)."""
        candidates = [s.agent for s in self.connected() if s.controller == "human"]
        proxy = candidates[0] if candidates else None
        if proxy == self.proxy:
            return
        self.proxy = proxy
        if proxy is not None:
            self.stand_ins.add(proxy)
        for seat in self.seats.values():
            if seat.controller == "fallback" and seat.agent != announcing:
                self._announce_seat(seat, effects)

    def _announce_seat(self, seat: Seat, effects: Effects) -> None:
        notice = SeatNotice(
            agent=seat.agent,
            controller=seat.controller,
            proxy=self.proxy if seat.controller == "fallback" else None,
            grace_s=self.rules.grace_s,
            abandoned=seat.abandoned,
            last_action=list(seat.last_action),
        )
        for member in self.connected(exclude=seat.agent):
            effects.send(member.peer, notice)
        effects.record(self.group_id, "seat", notice.model_dump(exclude={"type"}))

    def check_grace(self, now: float, effects: Effects) -> None:
        """Seats whose grace period ran out are abandoned: the game ends, or the fallback keeps the seat."""
        for seat in self.seats.values():
            if (
                seat.disconnected_at is not None
                and self._in_grace(seat)
                and now - seat.disconnected_at >= self.rules.grace_s
            ):
                seat.abandoned = True
                effects.record(
                    self.group_id,
                    "seat_abandoned",
                    {"agent": seat.agent, "after_s": round(now - seat.disconnected_at, 3)},
                )
                if self.rules.on_dropout == "end":
                    self.end("partner_left", effects)
                    return
                self._announce_seat(seat, effects)

    def next_deadline(self) -> float | None:
        """When the earliest running grace period runs out (None when none runs): `check_grace` is due then."""
        ends = [
            seat.disconnected_at + self.rules.grace_s
            for seat in self.seats.values()
            if seat.disconnected_at is not None and self._in_grace(seat)
        ]
        return min(ends, default=None)

    @staticmethod
    def _in_grace(seat: Seat) -> bool:
        return seat.peer is None and not seat.abandoned and not seat.finished

    def rejoin(self, seat: Seat, peer: Peer, now: float, effects: Effects) -> None:
        """`seat`'s person is back on `peer` (a reload or a new connection): reseat it and send it the game state."""
        if seat.abandoned or seat.finished:
            reason = "seat_taken" if seat.abandoned else "finished"
            effects.send(peer, End(reason=reason, agent=seat.agent))
            effects.record(self.group_id, "rejoin_refused", {"agent": seat.agent, "reason": reason})
            return
        if seat.peer is not None:  # a new connection replaces an old one that has not noticed it is gone
            effects.send(seat.peer, End(reason="replaced_by_new_connection", agent=seat.agent))
            effects.close(seat.peer)
        others = [s.agent for s in self.connected(exclude=seat.agent)]
        if not others:
            self.end("everyone_left", effects)
            effects.send(peer, End(reason="group_ended", agent=seat.agent))
            return
        away = round(now - seat.disconnected_at, 3) if seat.disconnected_at is not None else 0.0
        seat.peer, seat.disconnected_at, seat.controller = peer, None, "human"
        seat.repairs_sent = 0  # the rejoining browser counts repairs afresh
        effects.record(
            self.group_id,
            "rejoin",
            {"agent": seat.agent, "session_id": seat.session_id, "away_s": away, "at": list(seat.last_action)},
        )
        effects.send(peer, self.matched(seat, rejoin=True))
        self._announce_seat(seat, effects)
        self._choose_proxy(effects)
        self._request_snapshot(others[0], max(seat.last_action, (0, 0)), "rejoin", [seat.agent], effects)

    def end(self, reason: str, effects: Effects) -> None:
        """The game is over for everyone still connected; the owner frees the group."""
        if self.ended:
            return
        self.ended = True
        for seat in self.connected():
            effects.send(seat.peer, End(reason=reason))
        effects.record(self.group_id, "group_end", {"reason": reason, "stale_actions": self.stale_actions})
