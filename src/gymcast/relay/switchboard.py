"""Reaching any browser's connection from any host process: addresses, Redis pub/sub, and process liveness.

Each host process has an id and listens on its own channel. A connection it accepts gets an address
`<process id>.<n>`; the relay's shared state stores that address where it would keep a peer. Sending to a
`RemotePeer` delivers at once when the connection is in this process, and otherwise publishes the message
on the channel of the process that holds it, which delivers it in order.

Messages to other processes leave in the order they were sent, through one queue. Those sent on the socket
loop's thread wait until the loop has served every socket that was ready, and then go to Redis together in
one round trip (`publish_after_each_round`); another thread's message goes at once, with any waiting
before it.

Processes beat a heartbeat into Redis and list their connections there. When a process stops beating
(it was killed), any other process finds its connections (`orphans`) and reports them disconnected, so
the dropouts, grace periods and timeouts of that process's players still happen.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis

from gymcast.relay.protocol import ServerMessages
from gymcast.relay.socket_loop import SocketLoop

HEARTBEAT_S = 1.0
DEAD_AFTER_S = 8.0
"""A process that has not beaten for this long is dead: its connections are reported disconnected."""

log = logging.getLogger("gymcast.relay")


class LocalPeer(Protocol):
    """A connection held by this process."""

    def deliver(self, text: str, rate_limited: bool) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RemotePeer:
    """A browser's connection in any host process, by address (equal when the addresses are)."""

    address: str
    board: Switchboard = field(compare=False, repr=False)

    def send(self, message: ServerMessages) -> None:
        self.board.deliver(self.address, message.to_json(), message.rate_limited())

    def close(self) -> None:
        self.board.deliver(self.address, None, False)


class Switchboard:
    """This process's connections, its channel, and its heartbeat, in the Redis at `client` under `prefix`."""

    def __init__(self, client: redis.Redis, prefix: str, on_presumed_dead: Callable[[], None]) -> None:
        """`on_presumed_dead` is called when the other processes took this one for dead (it stalled) and
        reported its connections gone: it must close them, so that their browsers reconnect and rejoin."""
        self.redis = client
        self.prefix = prefix
        self.process = uuid.uuid4().hex
        self.on_presumed_dead = on_presumed_dead
        self._local: dict[str, LocalPeer] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._stopped = threading.Event()
        self._loop: SocketLoop | None = None
        self._outgoing: list[tuple[str, str]] = []  # (channel, envelope) not yet published, in the order sent
        self._outgoing_lock = threading.Lock()
        self._publishing = threading.Lock()  # one batch at a time, so that batches go out in order
        self._flush_scheduled = False
        self.beat()
        for target, name in ((self._listen, "switchboard"), (self._beat_forever, "heartbeat")):
            threading.Thread(target=target, name=f"gymcast-relay-{name}", daemon=True).start()

    def _channel(self, process: str) -> str:
        return f"{self.prefix}process:{process}"

    def _connections(self, process: str) -> str:
        return f"{self.prefix}connections:{process}"

    def publish_after_each_round(self, loop: SocketLoop) -> None:
        """Publish what `loop`'s thread sends to other processes once per round of the loop, in one round trip
        (an action no longer waits for its own PUBLISH); other threads still publish at once."""
        self._loop = loop

    def peer(self, address: str) -> RemotePeer:
        return RemotePeer(address, self)

    def attach(self, local: LocalPeer, session_id: str) -> RemotePeer:
        """Give a connection of this process an address, and list it (with its session) as this process's."""
        address = f"{self.process}.{next(self._numbers)}"
        with self._lock:
            self._local[address] = local
        self.redis.sadd(self._connections(self.process), f"{session_id} {address}")
        return self.peer(address)

    def detach(self, peer: RemotePeer, session_id: str) -> None:
        """The connection closed and has been reported: forget it."""
        with self._lock:
            self._local.pop(peer.address, None)
        self.redis.srem(self._connections(self.process), f"{session_id} {peer.address}")

    def deliver(self, address: str, text: str | None, rate_limited: bool) -> None:
        """Send `text` to the connection at `address` (close it when `text` is None), wherever it is."""
        process = address.split(".", 1)[0]
        if process == self.process:
            self._deliver_here(address, text, rate_limited)
        else:
            envelope = json.dumps({"to": address, "text": text, "limited": rate_limited}, separators=(",", ":"))
            loop = self._loop
            in_loop = loop is not None and loop.in_loop()
            with self._outgoing_lock:
                self._outgoing.append((self._channel(process), envelope))
                schedule = in_loop and not self._flush_scheduled
                self._flush_scheduled |= schedule
            if schedule:
                loop.call_soon(self._publish_outgoing)  # type: ignore[union-attr]
            elif not in_loop:
                self._publish_outgoing()

    def _publish_outgoing(self) -> None:
        """Publish every message waiting, in the order sent, in one round trip."""
        with self._publishing:
            with self._outgoing_lock:
                messages, self._outgoing = self._outgoing, []
                self._flush_scheduled = False
            if not messages:
                return
            pipe = self.redis.pipeline(transaction=False)
            for channel, envelope in messages:
                pipe.publish(channel, envelope)
            try:
                pipe.execute()
            except (redis.RedisError, OSError) as error:
                log.error("relay: %d messages to other processes were lost (%r)", len(messages), error)

    def _deliver_here(self, address: str, text: str | None, rate_limited: bool) -> None:
        with self._lock:
            local = self._local.get(address)
        if local is None:
            return  # closed meanwhile: its disconnect is (being) reported
        if text is None:
            local.close()
        else:
            local.deliver(text, rate_limited)

    def _listen(self) -> None:
        while not self._stopped.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self._channel(self.process))
                while not self._stopped.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        envelope = json.loads(message["data"])
                        self._deliver_here(envelope["to"], envelope["text"], envelope["limited"])
            except (redis.RedisError, OSError) as error:
                log.warning("relay: lost the Redis subscription (%r); resubscribing", error)
                self._stopped.wait(0.5)

    def beat(self) -> bool:
        """Tell the other processes this one is alive; True when it was not listed (taken for dead)."""
        return bool(self.redis.zadd(f"{self.prefix}processes", {self.process: _redis_time(self.redis)}))

    def _beat_forever(self) -> None:
        """Beat every `HEARTBEAT_S` in a thread of its own, so that a busy relay timer cannot delay it."""
        while not self._stopped.wait(HEARTBEAT_S):
            try:
                if self.beat():
                    self.on_presumed_dead()
            except (redis.RedisError, OSError) as error:
                log.warning("relay: heartbeat failed: %r", error)

    def orphans(self) -> list[tuple[RemotePeer, str]]:
        """The connections (peer, session id) of processes that stopped beating; each is handed out once or
        a few times (several processes may sweep at once: reporting a disconnect twice changes nothing)."""
        processes = f"{self.prefix}processes"
        dead = self.redis.zrangebyscore(processes, "-inf", _redis_time(self.redis) - DEAD_AFTER_S)
        found: list[tuple[RemotePeer, str]] = []
        for name in dead:
            process = name.decode() if isinstance(name, bytes) else str(name)
            if process == self.process:
                continue  # this process was stalled, not dead
            key = self._connections(process)
            for member in self.redis.smembers(key):
                session_id, address = (member.decode() if isinstance(member, bytes) else str(member)).split(" ", 1)
                found.append((self.peer(address), session_id))
            pipe = self.redis.pipeline()
            pipe.delete(key)
            pipe.zrem(processes, process)
            pipe.execute()
        return found

    def ping(self) -> None:
        """Raise when Redis does not answer."""
        self.redis.ping()

    def stop(self) -> None:
        self._stopped.set()


def _redis_time(client: redis.Redis) -> float:
    """Redis's clock, which every host process shares (their own clocks may differ)."""
    seconds, microseconds = client.time()
    return seconds + microseconds / 1e6
