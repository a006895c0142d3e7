"""The relay's state in Redis, shared by every host process (and machine) that serves the same bundle.

Keys, under a prefix naming the bundle's build: `room:<game>` (its waiters, JSON), `group:<id>` (JSON),
`seat:<session>` (`<group id> <agent>`), `ended:<session>` (expires after `ENDED_KEPT_S`), and the sorted
set `deadlines` (group id -> when its earliest grace period runs out), which every process's timer reads,
so a grace period runs out even when the process that started it is gone.

Each operation is an optimistic transaction: every key it reads is WATCHed, what it changed is written in
one MULTI/EXEC, and when another process changed a key it read meanwhile, the operation is run again on
fresh state (its effects from the failed attempt are discarded). No lock is held, so a process killed in
the middle of an operation holds nothing for long. Within a process, operations on one room or group
take turns (a local lock), so only other processes' operations can conflict (a crowd joining one room
at once would otherwise starve); operations that keep conflicting retry under a short-lived Redis lock.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.lock import Lock

from gymcast.relay.codec import group_from_json, group_to_json, waiters_from_json, waiters_to_json
from gymcast.relay.group import Choose, Group, Seat
from gymcast.relay.rules import GameRules
from gymcast.relay.state import ENDED_KEPT_S, EndedSeat, RelayView
from gymcast.relay.switchboard import Switchboard
from gymcast.relay.waiting_room import WaitingRoom

T = TypeVar("T")
OPTIMISTIC_ATTEMPTS = 3
LOCAL_STRIPES = 256
MAX_ATTEMPTS = 100
LOCK_TIMEOUT_S = 5.0
"""A contention lock expires after this long, so a process killed while holding it blocks no one for long."""
LOCK_WAIT_S = 30.0
LIVE_KEPT_S = 24 * 3600
"""A group or seat nobody touched for this long is dropped (every change refreshes it)."""
_JITTER = random.Random()  # not the global generator: a host that runs envs or tests must find that one untouched


class RedisRelayState:
    """`RelayState` in Redis. `choose` draws desync references (the coordinator's); `board` makes peers."""

    def __init__(self, board: Switchboard, games: dict[str, GameRules], choose: Choose) -> None:
        self.redis = board.redis
        self.board = board
        self.games = games
        self.choose = choose
        self.prefix = board.prefix
        self._room_locks: dict[str, threading.RLock] = {}
        self._group_locks = [threading.RLock() for _ in range(LOCAL_STRIPES)]

    def run(self, operation: Callable[[RelayView], T]) -> T:
        """Optimistically a few times; then, if others keep changing what it reads (many players joining one
        waiting room at once), again under a lock on the last key it read, which the other operations that
        keep conflicting on that key wait for."""
        contended = ""
        for attempt in range(OPTIMISTIC_ATTEMPTS):
            if attempt:
                time.sleep(_JITTER.uniform(0, 0.001 * attempt))  # two players of a group send in step: part them
            done, result, contended = self._attempt(operation)
            if done:
                return result  # type: ignore[return-value]
        lock = self.lock(f"{contended}:retry")
        try:
            for _ in range(MAX_ATTEMPTS):
                done, result, _ = self._attempt(operation)
                if done:
                    return result  # type: ignore[return-value]
        finally:
            release(lock)
        raise RuntimeError(f"a relay operation conflicted with others {MAX_ATTEMPTS} times in a row")

    def _attempt(self, operation: Callable[[RelayView], T]) -> tuple[bool, T | None, str]:
        """One run of `operation`: (committed, its result, the last key it read: its group's or room's)."""
        with self.redis.pipeline() as pipe:
            view = RedisView(self, pipe)
            try:
                result = operation(view)
                view.commit()
            except redis.WatchError:
                return False, None, view.last_read
            finally:
                for held in reversed(view.held):
                    held.release()
            return True, result, view.last_read

    def local_lock(self, key: str) -> threading.RLock:
        """The lock, in this process, of a room or a group's key: this process's threads take turns on a key,
        so only other processes can conflict with them (a crowd joining one room at once would starve)."""
        if ":room:" in key:
            return self._room_locks.setdefault(key, threading.RLock())
        return self._group_locks[zlib.crc32(key.encode()) % len(self._group_locks)]

    def lock(self, key: str) -> Lock:
        """Acquire the lock `key` (it expires after `LOCK_TIMEOUT_S`, should its holder die)."""
        lock = self.redis.lock(key, timeout=LOCK_TIMEOUT_S, sleep=0.001, blocking_timeout=LOCK_WAIT_S)
        lock.acquire()
        return lock

    def due_groups(self, now: float) -> list[str]:
        """The groups whose grace deadline has passed; a deadline whose group expired (nobody touched it for
        `LIVE_KEPT_S`) is dropped here, or every timer would read it again on every tick."""
        found = self.redis.zrangebyscore(f"{self.prefix}deadlines", "-inf", now)
        names = [name.decode() if isinstance(name, bytes) else str(name) for name in found]
        if not names:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.exists(f"{self.prefix}group:{name}")
        alive = pipe.execute()
        expired = [name for name, exists in zip(names, alive, strict=True) if not exists]
        if expired:
            self.redis.zrem(f"{self.prefix}deadlines", *expired)
        return [name for name, exists in zip(names, alive, strict=True) if exists]

    def group_ids(self) -> list[str]:
        start = len(f"{self.prefix}group:")
        keys = self.redis.scan_iter(match=f"{self.prefix}group:*", count=500)
        return [(key.decode() if isinstance(key, bytes) else key)[start:] for key in keys]

    def forget_ended(self, before: float) -> None:
        """Nothing to do: ended seats expire in Redis."""


def release(lock: Lock) -> None:
    """Release `lock`, unless it expired meanwhile (then WATCH kept the operation right all the same)."""
    with contextlib.suppress(redis.exceptions.LockError):
        lock.release()


class RedisView:
    """What one attempt of an operation read (each key WATCHed as it is first read) and changed."""

    def __init__(self, state: RedisRelayState, pipe: Any) -> None:
        self.state = state
        self.pipe = pipe
        self.prefix = state.prefix
        self._rooms: dict[str, tuple[str, WaitingRoom]] = {}  # game -> (JSON read, room)
        self._groups: dict[str, tuple[str | None, Group]] = {}  # group id -> (JSON read or None if new, group)
        self._deadlines: dict[str, float | None] = {}  # group id -> its grace deadline as read
        self._freed: dict[str, float] = {}  # group id -> when
        self._seats: dict[str, tuple[str, str] | None] = {}  # session id -> (group id, agent), as read or set
        self._ended: dict[str, EndedSeat | None] = {}
        self.last_read = f"{self.prefix}nothing"
        self.held: list[threading.RLock] = []

    def _read(self, key: str) -> str | None:
        self.last_read = key
        if ":room:" in key or ":group:" in key:  # a group's lock, then a room's: never the other way round
            lock = self.state.local_lock(key)
            lock.acquire()
            self.held.append(lock)
        self.pipe.watch(key)
        value = self.pipe.get(key)
        return None if value is None else value.decode()

    def room(self, game: str) -> WaitingRoom | None:
        rules = self.state.games.get(game)
        if rules is None:
            return None
        if game not in self._rooms:
            raw = self._read(f"{self.prefix}room:{game}") or "[]"
            room = WaitingRoom(rules)
            room.waiters = waiters_from_json(raw, self.state.board.peer)
            self._rooms[game] = (raw, room)
        return self._rooms[game][1]

    def rooms(self) -> list[WaitingRoom]:
        return [room for game in self.state.games if (room := self.room(game)) is not None]

    def seat_of(self, session_id: str) -> tuple[Group, Seat] | None:
        if session_id not in self._seats:
            raw = self._read(f"{self.prefix}seat:{session_id}")
            self._seats[session_id] = None if raw is None else tuple(raw.split(" ", 1))  # type: ignore[assignment]
        found = self._seats[session_id]
        if found is None:
            return None
        group = self.group(found[0])
        if group is None or found[1] not in group.seats:
            return None
        return group, group.seats[found[1]]

    def group(self, group_id: str) -> Group | None:
        if group_id in self._freed:
            return None
        if group_id not in self._groups:
            raw = self._read(f"{self.prefix}group:{group_id}")
            if raw is None:
                return None
            state = self.state
            group = group_from_json(raw, state.games, state.choose, state.board.peer)
            self._groups[group_id] = (raw, group)
            self._deadlines[group_id] = group.next_deadline()
        return self._groups[group_id][1]

    def add_group(self, group: Group) -> None:
        self._groups[group.group_id] = (None, group)
        for agent, seat in group.seats.items():
            self._seats[seat.session_id] = (group.group_id, agent)
            self._ended[seat.session_id] = None

    def free_group(self, group: Group, now: float) -> None:
        self._freed[group.group_id] = now
        for agent, seat in group.seats.items():
            self._seats[seat.session_id] = None
            self._ended[seat.session_id] = EndedSeat(group.group_id, agent, now)

    def ended_seat(self, session_id: str) -> EndedSeat | None:
        if session_id not in self._ended:
            raw = self._read(f"{self.prefix}ended:{session_id}")
            if raw is None:
                self._ended[session_id] = None
            else:
                group_id, agent, ended_at = raw.split(" ", 2)
                self._ended[session_id] = EndedSeat(group_id, agent, float(ended_at))
        return self._ended[session_id]

    def commit(self) -> None:
        """Write what changed, in one transaction that fails (WatchError) if anything read changed meanwhile."""
        pipe, prefix = self.pipe, self.prefix
        pipe.multi()
        for game, (read, room) in self._rooms.items():
            text = waiters_to_json(room.waiters)
            if text != read:
                pipe.set(f"{prefix}room:{game}", text)
        for group_id, (raw, group) in self._groups.items():
            if group_id in self._freed:
                continue
            text = group_to_json(group)
            if text == raw:
                continue
            pipe.set(f"{prefix}group:{group_id}", text, ex=LIVE_KEPT_S)
            deadline = group.next_deadline()
            if deadline == self._deadlines.get(group_id):
                pass  # unchanged (most changes are actions)
            elif deadline is None:
                pipe.zrem(f"{prefix}deadlines", group_id)
            else:
                pipe.zadd(f"{prefix}deadlines", {group_id: deadline})
            if raw is None:
                for agent, seat in group.seats.items():
                    pipe.set(f"{prefix}seat:{seat.session_id}", f"{group_id} {agent}", ex=LIVE_KEPT_S)
                    pipe.delete(f"{prefix}ended:{seat.session_id}")
        for group_id in self._freed:
            pipe.delete(f"{prefix}group:{group_id}")
            pipe.zrem(f"{prefix}deadlines", group_id)
        for session_id, ended in self._ended.items():
            if ended is not None and ended.group_id in self._freed:
                pipe.delete(f"{prefix}seat:{session_id}")
                value = f"{ended.group_id} {ended.agent} {ended.ended_at}"
                pipe.set(f"{prefix}ended:{session_id}", value, ex=int(ENDED_KEPT_S))
        pipe.execute()
