"""The relay's state: the waiting room, groups, seats and who plays each seat. It never steps an env.

All methods run under one lock and only *collect* effects (messages to send, events to log); the
caller performs them after the lock is released, so a slow socket or disk never stalls the others.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gymcast.contracts import MAX_BASE_SEED
from gymcast.relay.protocol import SCHEMA_VERSION, Action, Finished, Hash, Join, Pong, Snapshot, Visibility

PING_EVERY_S = 1.0
MAX_INPUT_DELAY = 30
KEPT_HASH_STEPS = 64
NOT_YET = (-1, -1)


class Peer(Protocol):
    """One browser's connection."""

    def send(self, message: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class GameRules:
    """A networked game as the bundle manifest describes it."""

    game: str
    seats: tuple[str, ...]
    fps: int
    seed: int | None
    wait_timeout_s: float
    on_timeout: str
    timeout_code: str
    timeout_redirect: str
    grace_s: float
    on_dropout: str
    hash_every: int
    input_delay: int | None

    @classmethod
    def from_manifest(cls, key: str, game: dict[str, Any]) -> GameRules:
        rules = game["multiplayer"]
        seats = tuple(agent for agent, player in game["players"].items() if player["type"] == "human")
        return cls(
            key,
            seats,
            game["rendering"]["fps"],
            game["gameplay"].get("seed"),
            rules["wait_timeout_s"],
            rules["on_timeout"],
            rules["timeout_code"],
            rules["timeout_redirect"],
            rules["grace_s"],
            rules["on_dropout"],
            rules["hash_every"],
            rules["input_delay"],
        )

    def input_delay_for(self, rtts_ms: list[float]) -> int:
        """Steps of input delay: the configured value, or enough steps to cover the slowest round trip plus one."""
        if self.input_delay is not None:
            return self.input_delay
        period_ms = 1000 / self.fps
        return max(1, min(MAX_INPUT_DELAY, math.ceil((max(rtts_ms, default=0) + period_ms) / period_ms)))


@dataclass
class Waiter:
    peer: Peer
    session_id: str
    game: str
    joined_at: float
    visible: bool
    rtt_ms: float | None = None
    last_ping: float = 0.0
    last_notice: float = 0.0


@dataclass
class Seat:
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
class Group:
    group_id: str
    rules: GameRules
    seats: dict[str, Seat]
    seed: int
    input_delay: int
    proxy: str | None = None
    hashes: dict[tuple[int, int], dict[str, str]] = field(default_factory=dict)
    requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    ended: bool = False
    stale_actions: int = 0
    stand_ins: set[str] = field(default_factory=set)  # seats that have ever played for another seat

    def connected(self, exclude: str | None = None) -> list[Seat]:
        return [seat for seat in self.seats.values() if seat.peer is not None and seat.agent != exclude]


class Effects:
    """Messages to send and relay events to log, collected under the lock and performed after it."""

    def __init__(self) -> None:
        self.sends: list[tuple[Peer, dict[str, Any]]] = []
        self.records: list[tuple[str, str, dict[str, Any]]] = []
        self.closes: list[Peer] = []

    def send(self, peer: Peer | None, message: dict[str, Any]) -> None:
        if peer is not None:
            self.sends.append((peer, message))

    def record(self, group_id: str, kind: str, data: dict[str, Any]) -> None:
        self.records.append((group_id, kind, data))


class Relay:
    """Matches players into groups and forwards actions, hashes and state between group members."""

    def __init__(self, games: dict[str, GameRules], clock: Callable[[], float] = time.monotonic) -> None:
        self.games = games
        self.clock = clock
        self._lock = threading.Lock()
        self.waiting: dict[str, list[Waiter]] = {key: [] for key in games}  # game -> waiters in arrival order
        self.waiter_of: dict[str, Waiter] = {}  # session_id -> its waiter
        self.groups: dict[str, Group] = {}
        self.seat_of: dict[str, tuple[str, str]] = {}  # session_id -> (group_id, agent)
        self._next_request = 1

    # -- entry points (each returns the effects to perform) ----------------------------------------

    def join(self, peer: Peer, message: Join) -> Effects:
        """A browser joined (or came back): seat it in its group again, or put it in the waiting room."""
        effects = Effects()
        with self._lock:
            if message.game not in self.games:
                effects.send(
                    peer,
                    _error(
                        f"game {message.game!r} is not a networked game of this bundle; "
                        f"networked games: {sorted(self.games)}"
                    ),
                )
                effects.closes.append(peer)
            elif message.session_id in self.seat_of:
                self._rejoin(peer, message, effects)
            else:
                now = self.clock()
                self._drop_waiter(message.session_id)
                waiter = Waiter(peer, message.session_id, message.game, now, message.visible, last_ping=now)
                self.waiting[message.game].append(waiter)
                self.waiter_of[message.session_id] = waiter
                effects.send(peer, {"type": "waiting", "waited_s": 0, "schema": SCHEMA_VERSION})
                effects.send(peer, {"type": "ping", "t": now * 1000})
        return effects

    def receive(self, peer: Peer, session_id: str, message: Any) -> Effects:
        """A message from a browser that has joined."""
        effects = Effects()
        with self._lock:
            waiter = self._waiter(session_id, peer)
            if waiter is not None:
                self._waiting_message(waiter, message, effects)
            elif session_id in self.seat_of:
                group_id, agent = self.seat_of[session_id]
                group = self.groups[group_id]
                if group.seats[agent].peer is peer and not group.ended:
                    self._group_message(group, group.seats[agent], message, effects)
        return effects

    def disconnect(self, peer: Peer, session_id: str) -> Effects:
        """A browser's connection closed."""
        effects = Effects()
        with self._lock:
            waiter = self._waiter(session_id, peer)
            if waiter is not None:
                self._drop_waiter(session_id)
            elif session_id in self.seat_of:
                group_id, agent = self.seat_of[session_id]
                group = self.groups[group_id]
                if group.seats[agent].peer is peer and not group.ended:
                    self._dropout(group, group.seats[agent], effects)
        return effects

    def tick(self) -> Effects:
        """Timers: pings and notices in the waiting room, wait timeouts, and grace periods."""
        effects = Effects()
        with self._lock:
            now = self.clock()
            for game, waiters in self.waiting.items():
                rules = self.games[game]
                for waiter in list(waiters):
                    waited = now - waiter.joined_at
                    if waited >= rules.wait_timeout_s:
                        self._timeout(waiter, rules, waited, effects)
                        continue
                    if now - waiter.last_ping >= PING_EVERY_S:
                        waiter.last_ping = now
                        effects.send(waiter.peer, {"type": "ping", "t": now * 1000})
                    if now - waiter.last_notice >= PING_EVERY_S:
                        waiter.last_notice = now
                        effects.send(waiter.peer, {"type": "waiting", "waited_s": round(waited, 1)})
                self._match(game, effects)
            for group in list(self.groups.values()):
                if not group.ended:
                    self._check_grace(group, now, effects)
        return effects

    # -- waiting room ------------------------------------------------------------------------------

    def _waiter(self, session_id: str, peer: Peer) -> Waiter | None:
        waiter = self.waiter_of.get(session_id)
        return waiter if waiter is not None and waiter.peer is peer else None

    def _drop_waiter(self, session_id: str) -> None:
        waiter = self.waiter_of.pop(session_id, None)
        if waiter is not None:
            self.waiting[waiter.game].remove(waiter)

    def _waiting_message(self, waiter: Waiter, message: Any, effects: Effects) -> None:
        if isinstance(message, Pong):
            sample = max(0.0, self.clock() * 1000 - message.t)
            waiter.rtt_ms = sample if waiter.rtt_ms is None else 0.7 * waiter.rtt_ms + 0.3 * sample
        elif isinstance(message, Visibility):
            waiter.visible = message.visible
        else:
            effects.send(waiter.peer, _error(f"{message.type!r} is not allowed before you are matched into a group"))
            return
        self._match(waiter.game, effects)

    def _timeout(self, waiter: Waiter, rules: GameRules, waited: float, effects: Effects) -> None:
        self._drop_waiter(waiter.session_id)
        effects.send(
            waiter.peer,
            {
                "type": "timeout",
                "waited_s": round(waited, 1),
                "on_timeout": rules.on_timeout,
                "code": rules.timeout_code,
                "redirect": rules.timeout_redirect,
            },
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

    def _match(self, game: str, effects: Effects) -> None:
        """Group the earliest connected, visible waiters whose round trip has been measured."""
        rules = self.games[game]
        while True:
            ready = [w for w in self.waiting[game] if w.visible and w.rtt_ms is not None][: len(rules.seats)]
            if len(ready) < len(rules.seats):
                return
            for waiter in ready:
                self._drop_waiter(waiter.session_id)
            self._form_group(rules, ready, effects)

    def _form_group(self, rules: GameRules, waiters: list[Waiter], effects: Effects) -> None:
        rtts = [waiter.rtt_ms or 0.0 for waiter in waiters]
        seed = rules.seed if rules.seed is not None else secrets.randbelow(MAX_BASE_SEED + 1)
        group = Group(uuid.uuid4().hex, rules, {}, seed, rules.input_delay_for(rtts))
        for agent, waiter in zip(rules.seats, waiters):
            group.seats[agent] = Seat(agent, waiter.session_id, waiter.peer)
            self.seat_of[waiter.session_id] = (group.group_id, agent)
        self.groups[group.group_id] = group
        now = self.clock()
        effects.record(
            group.group_id,
            "group_formed",
            {
                "game": rules.game,
                "seed": seed,
                "input_delay": group.input_delay,
                "members": {agent: seat.session_id for agent, seat in group.seats.items()},
                "waited_s": {w.session_id: round(now - w.joined_at, 3) for w in waiters},
                "rtt_ms": {w.session_id: round(w.rtt_ms or 0.0, 3) for w in waiters},
            },
        )
        for seat, waiter in zip(group.seats.values(), waiters):
            effects.send(
                seat.peer, self._matched(group, seat, rejoin=False) | {"rtt_ms": round(waiter.rtt_ms or 0.0, 3)}
            )

    @staticmethod
    def _matched(group: Group, seat: Seat, rejoin: bool) -> dict[str, Any]:
        return {
            "type": "matched",
            "group_id": group.group_id,
            "seat": seat.agent,
            "seats": list(group.seats),
            "seed": group.seed,
            "input_delay": group.input_delay,
            "hash_every": group.rules.hash_every,
            "rejoin": rejoin,
            "controllers": {agent: s.controller for agent, s in group.seats.items()},
        }

    # -- in a group --------------------------------------------------------------------------------

    def _group_message(self, group: Group, seat: Seat, message: Any, effects: Effects) -> None:
        if isinstance(message, Action):
            self._action(group, seat, message, effects)
        elif isinstance(message, Hash):
            self._hash(group, seat, message, effects)
        elif isinstance(message, Snapshot):
            self._snapshot(group, seat, message, effects)
        elif isinstance(message, Finished):
            seat.finished = True
            if all(s.finished or s.abandoned or s.peer is None for s in group.seats.values()):
                self._end(group, "finished", effects)
        elif not isinstance(message, (Pong, Visibility)):
            effects.send(seat.peer, _error(f"{message.type!r} is not expected during a game"))

    def _action(self, group: Group, sender: Seat, message: Action, effects: Effects) -> None:
        seat = group.seats.get(message.agent)
        if seat is None:
            effects.send(
                sender.peer, _error(f"agent {message.agent!r} is not a seat of your group; seats: {list(group.seats)}")
            )
            return
        own = seat is sender and seat.controller == "human"
        stand_in = seat.controller == "fallback" and group.proxy == sender.agent
        if not (own or stand_in):
            if sender.agent in group.stand_ins and seat is not sender:
                group.stale_actions += 1  # a stand-in's action that crossed a hand-over: expected, counted
            else:
                effects.send(sender.peer, _error(f"you do not control seat {message.agent!r}"))
            return
        key = (message.episode, message.step)
        if key <= seat.last_action:
            group.stale_actions += 1
            return
        seat.last_action = key
        forwarded = {
            "type": "action",
            "episode": message.episode,
            "step": message.step,
            "agent": message.agent,
            "action": message.action,
        }
        for member in group.connected(exclude=None if stand_in else sender.agent):
            effects.send(member.peer, forwarded)

    def _hash(self, group: Group, seat: Seat, message: Hash, effects: Effects) -> None:
        if message.repairs < seat.repairs_sent:
            return  # hashed before the repair on its way reached this browser: it says nothing new
        key = (message.episode, message.step)
        reported = group.hashes.setdefault(key, {})
        reported[seat.agent] = message.hash
        while len(group.hashes) > KEPT_HASH_STEPS:
            group.hashes.pop(next(iter(group.hashes)))
        expected = {s.agent for s in group.connected() if s.controller == "human"}
        if not expected <= set(reported):
            return
        del group.hashes[key]
        if len(set(reported.values())) <= 1 or any(r["reason"] == "desync" for r in group.requests.values()):
            return
        reference = next(agent for agent in group.seats if agent in reported and agent in expected)
        targets = [agent for agent, value in reported.items() if value != reported[reference]]
        effects.record(
            group.group_id,
            "desync",
            {"episode": key[0], "step": key[1], "hashes": dict(reported), "reference": reference, "repairing": targets},
        )
        self._request_snapshot(group, reference, key, "desync", targets, effects)

    def _request_snapshot(
        self, group: Group, source: str, at: tuple[int, int], reason: str, targets: list[str], effects: Effects
    ) -> None:
        request_id = self._next_request
        self._next_request += 1
        group.requests[request_id] = {"source": source, "reason": reason, "targets": targets}
        effects.send(
            group.seats[source].peer,
            {"type": "snapshot_request", "request_id": request_id, "episode": at[0], "step": at[1], "reason": reason},
        )

    def _snapshot(self, group: Group, seat: Seat, message: Snapshot, effects: Effects) -> None:
        request = group.requests.get(message.request_id)
        if request is None or request["source"] != seat.agent:
            effects.send(seat.peer, _error(f"no snapshot was requested from you with id {message.request_id}"))
            return
        del group.requests[message.request_id]
        state = {
            "type": "state",
            "reason": request["reason"],
            "from": seat.agent,
            "episode": message.episode,
            "step": message.step,
            "state": message.state,
            "returns": message.returns,
            "episode_over": message.episode_over,
            "inputs": [list(entry) for entry in message.inputs],
        }
        for agent in request["targets"]:
            if request["reason"] == "desync":
                group.seats[agent].repairs_sent += 1
                for reported in group.hashes.values():
                    reported.pop(agent, None)  # taken before this repair, like the ones `_hash` ignores from now on
            effects.send(group.seats[agent].peer, state)
        effects.record(
            group.group_id,
            "state_sent",
            {
                "reason": request["reason"],
                "from": seat.agent,
                "to": request["targets"],
                "episode": message.episode,
                "step": message.step,
                "bytes": len(message.state),
            },
        )

    # -- dropouts and rejoining --------------------------------------------------------------------

    def _dropout(self, group: Group, seat: Seat, effects: Effects) -> None:
        seat.peer = None
        seat.disconnected_at = self.clock()
        effects.record(
            group.group_id,
            "dropout",
            {
                "agent": seat.agent,
                "session_id": seat.session_id,
                "last_action": list(seat.last_action),
                "finished": seat.finished,
            },
        )
        if seat.finished:
            return
        if not group.connected():
            self._end(group, "everyone_left", effects)
            return
        for request_id, request in list(group.requests.items()):
            if request["source"] == seat.agent:
                del group.requests[request_id]
                if request["reason"] == "rejoin":
                    target = request["targets"][0]
                    at = group.seats[target].last_action
                    others = [s.agent for s in group.connected(exclude=target)]
                    if others:
                        self._request_snapshot(group, others[0], max(at, (0, 0)), "rejoin", [target], effects)
        seat.controller = "absent" if group.rules.on_dropout == "end" else "fallback"
        self._choose_proxy(group, effects, announcing=seat.agent)
        self._announce_seat(group, seat, effects)

    def _choose_proxy(self, group: Group, effects: Effects, announcing: str | None = None) -> None:
        """The first connected seat stands in for every fallback seat; tell everyone when that changes
        (except about the seat `announcing`, which the caller announces)."""
        candidates = [s.agent for s in group.connected() if s.controller == "human"]
        proxy = candidates[0] if candidates else None
        if proxy == group.proxy:
            return
        group.proxy = proxy
        if proxy is not None:
            group.stand_ins.add(proxy)
        for seat in group.seats.values():
            if seat.controller == "fallback" and seat.agent != announcing:
                self._announce_seat(group, seat, effects)

    def _announce_seat(self, group: Group, seat: Seat, effects: Effects) -> None:
        notice = {
            "type": "seat",
            "agent": seat.agent,
            "controller": seat.controller,
            "proxy": group.proxy if seat.controller == "fallback" else None,
            "grace_s": group.rules.grace_s,
            "abandoned": seat.abandoned,
            "last_action": list(seat.last_action),
        }
        for member in group.connected(exclude=seat.agent):
            effects.send(member.peer, notice)
        effects.record(group.group_id, "seat", {key: value for key, value in notice.items() if key != "type"})

    def _check_grace(self, group: Group, now: float, effects: Effects) -> None:
        for seat in group.seats.values():
            if (
                seat.peer is None
                and not seat.abandoned
                and not seat.finished
                and seat.disconnected_at is not None
                and now - seat.disconnected_at >= group.rules.grace_s
            ):
                seat.abandoned = True
                effects.record(
                    group.group_id,
                    "seat_abandoned",
                    {"agent": seat.agent, "after_s": round(now - seat.disconnected_at, 3)},
                )
                if group.rules.on_dropout == "end":
                    self._end(group, "partner_left", effects)
                    return
                self._announce_seat(group, seat, effects)

    def _rejoin(self, peer: Peer, message: Join, effects: Effects) -> None:
        group_id, agent = self.seat_of[message.session_id]
        group = self.groups[group_id]
        seat = group.seats[agent]
        if group.ended or seat.abandoned or seat.finished:
            reason = "group_ended" if group.ended else ("seat_taken" if seat.abandoned else "finished")
            effects.send(peer, {"type": "end", "reason": reason, "agent": agent})
            effects.record(group_id, "rejoin_refused", {"agent": agent, "reason": reason})
            return
        if seat.peer is not None:  # a new connection replaces an old one that has not noticed it is gone
            effects.send(seat.peer, {"type": "end", "reason": "replaced_by_new_connection", "agent": agent})
            effects.closes.append(seat.peer)
        others = [s.agent for s in group.connected(exclude=agent)]
        if not others:
            self._end(group, "everyone_left", effects)
            effects.send(peer, {"type": "end", "reason": "group_ended", "agent": agent})
            return
        away = round(self.clock() - seat.disconnected_at, 3) if seat.disconnected_at is not None else 0.0
        seat.peer, seat.disconnected_at, seat.controller = peer, None, "human"
        seat.repairs_sent = 0  # the rejoining browser counts repairs afresh
        effects.record(
            group_id,
            "rejoin",
            {"agent": agent, "session_id": seat.session_id, "away_s": away, "at": list(seat.last_action)},
        )
        effects.send(peer, self._matched(group, seat, rejoin=True))
        self._announce_seat(group, seat, effects)
        self._choose_proxy(group, effects)
        self._request_snapshot(group, others[0], max(seat.last_action, (0, 0)), "rejoin", [agent], effects)

    def _end(self, group: Group, reason: str, effects: Effects) -> None:
        group.ended = True
        for seat in group.connected():
            effects.send(seat.peer, {"type": "end", "reason": reason})
        effects.record(group.group_id, "group_end", {"reason": reason, "stale_actions": group.stale_actions})


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "message": message}
