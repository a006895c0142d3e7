"""The relay's state in Redis, shared by every host process (and machine) that serves the same bundle.

Keys, under a prefix naming the bundle's build: `room:<game>` (its waiters, JSON), `group:<id>` (JSON),
`seat:<session>` (`<group id> <agent>`), `ended:<session>` (expires after `ENDED_KEPT_S`), and the sorted
set `deadlines` (group id -> when its earliest grace period runs out), which every process's timer reads,
so a grace period runs out even when the process that started it is gone.

Each operation is an optimistic transaction: every key it reads is WATCHed, what it changed is written in
one MULTI/EXEC, and when another process changed a key it read meanwhile, the operation is run again on
fresh state (its effects from the failed attempt are discarded). A read is one round trip (WATCH and GET
sent together) and so is the commit; where a session sits is remembered once read (see `seat_of`), so a
relayed action costs two round trips. No lock is held, so a process killed in
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
SEATS_REMEMBERED = 100_000
"""Where this many sessions sit is remembered in a process, at most (then it starts afresh)."""
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
        self.seats: dict[str, tuple[str, str]] = {}  # session id -> (group id, agent), as once read

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
        with Transaction(self.redis) as transaction:
            view = RedisView(self, transaction)
            try:
                result = operation(view)
                view.commit()
            except redis.WatchError:
                return False, None, view.last_read
            finally:
                for held in reversed(view.held):
                    held.release()
            return True, result, view.last_read

    def remember_seat(self, session_id: str, seat: tuple[str, str]) -> None:
        """Where `session_id` sits, as read: a session keeps its seat while its group lives (see `seat_of`)."""
        if len(self.seats) >= SEATS_REMEMBERED:
            self.seats.clear()
        self.seats[session_id] = seat

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


class Transaction:
    """One optimistic transaction on one pooled connection. Each read sends WATCH and GET at once, and the
    commit MULTI, the writes and EXEC at once: one round trip each, where redis-py's pipeline takes two for
    a read. As with redis-py's pipeline, a connection lost during the reads is a conflict (the operation is
    run again on a fresh connection). A connection that failed mid-exchange is dropped, and one left watching
    is unwatched, before it returns to the pool."""

    def __init__(self, client: redis.Redis) -> None:
        self._pool = client.connection_pool
        self._connection: Any = None  # taken at the first read, as redis-py's pipeline does (after a room's lock)
        self._writes: list[tuple[Any, ...]] = []
        self._reads = 0
        self._watching = False
        self._broken = False

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, *_: object) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            if self._watching and not self._broken:
                self._exchange([("UNWATCH",)])
        except (redis.RedisError, OSError):
            pass  # the connection is dropped below, which unwatches too
        finally:
            if self._broken:
                connection.disconnect()
            self._pool.release(connection)

    def read(self, key: str) -> bytes | None:
        """The value at `key`, which the commit now requires unchanged."""
        if self._connection is None:  # none free within the pool's wait, or Redis down: an error, not a conflict
            self._connection = self._pool.get_connection()
        self._watching = True
        self._reads += 1
        try:
            return self._exchange([("WATCH", key), ("GET", key)])[1]
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise redis.WatchError(f"the connection to Redis failed during a read: {error}") from error

    def write(self, *command: Any) -> None:
        """Queue a command for the commit."""
        self._writes.append(command)

    def commit(self) -> None:
        """Run the queued commands in one MULTI/EXEC; WatchError when a key read has changed meanwhile (also
        with no writes, when several keys were read: what the operation saw must have been one state)."""
        if not self._writes and self._reads <= 1:
            return
        replies = self._exchange([("MULTI",), *self._writes, ("EXEC",)])
        self._watching = False  # EXEC unwatches, whether it ran or not
        if replies[-1] is None:
            raise redis.WatchError("a key this operation read was changed meanwhile")
        for reply in replies[-1]:
            if isinstance(reply, Exception):
                raise reply

    def _exchange(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        if self._connection is None:
            self._connection = self._pool.get_connection()
        connection = self._connection
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            return [connection.read_response() for _ in commands]
        except BaseException:  # replies may still be on their way: the connection cannot be reused
            self._broken = True
            raise


class RedisView:
    """What one attempt of an operation read (each key WATCHed as it is first read) and changed."""

    def __init__(self, state: RedisRelayState, transaction: Transaction) -> None:
        self.state = state
        self.transaction = transaction
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
        if ":room:" in key or ":group:" in key:  # a room's lock, then a group's (a join): never the other way round
            lock = self.state.local_lock(key)
            lock.acquire()
            self.held.append(lock)
        value = self.transaction.read(key)
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
        """A seat once read is taken as known while its group lives and seats that session there: a session's
        seat key is set when its group forms and changes only when that group is freed, which deletes the
        group's key (WATCHed here), so the seat key need not be read again."""
        if session_id not in self._seats:
            known = self.state.seats.get(session_id)
            group = None if known is None else self.group(known[0])
            if known is not None and group is not None and _sits(group, known[1], session_id):
                self._seats[session_id] = known
            elif known is not None:  # its group was freed, here or by another process: read the seat afresh,
                self.state.seats.pop(session_id, None)  # in an attempt that holds no group's lock (see `_read`)
                raise redis.WatchError("a remembered seat has gone")
            else:
                raw = self._read(f"{self.prefix}seat:{session_id}")
                self._seats[session_id] = None if raw is None else tuple(raw.split(" ", 1))  # type: ignore[assignment]
                if raw is not None:
                    self.state.remember_seat(session_id, self._seats[session_id])  # type: ignore[arg-type]
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
            self.state.seats.pop(seat.session_id, None)
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
        write, prefix = self.transaction.write, self.prefix
        for game, (read, room) in self._rooms.items():
            text = waiters_to_json(room.waiters)
            if text != read:
                write("SET", f"{prefix}room:{game}", text)
        for group_id, (raw, group) in self._groups.items():
            if group_id in self._freed:
                continue
            text = group_to_json(group)
            if text == raw:
                continue
            write("SET", f"{prefix}group:{group_id}", text, "EX", LIVE_KEPT_S)
            deadline = group.next_deadline()
            if deadline == self._deadlines.get(group_id):
                pass  # unchanged (most changes are actions)
            elif deadline is None:
                write("ZREM", f"{prefix}deadlines", group_id)
            else:
                write("ZADD", f"{prefix}deadlines", deadline, group_id)
            if raw is None:
                for agent, seat in group.seats.items():
                    write("SET", f"{prefix}seat:{seat.session_id}", f"{group_id} {agent}", "EX", LIVE_KEPT_S)
                    write("DEL", f"{prefix}ended:{seat.session_id}")
        for group_id in self._freed:
            write("DEL", f"{prefix}group:{group_id}")
            write("ZREM", f"{prefix}deadlines", group_id)
        for session_id, ended in self._ended.items():
            if ended is not None and ended.group_id in self._freed:
                write("DEL", f"{prefix}seat:{session_id}")
                value = f"{ended.group_id} {ended.agent} {ended.ended_at}"
                write("SET", f"{prefix}ended:{session_id}", value, "EX", int(ENDED_KEPT_S))
        self.transaction.commit()


def _sits(group: Group, agent: str, session_id: str) -> bool:
    seat = group.seats.get(agent)
    return seat is not None and seat.session_id == session_id
