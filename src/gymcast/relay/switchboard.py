"""Reaching any browser's connection from any host process: addresses, Redis pub/sub, and process liveness.

Each host process has an id and listens on its own channel. A connection it accepts gets an address
`<process id>.<n>`; the relay's shared state stores that address where it would keep a peer. Sending to a
`RemotePeer` delivers at once when the connection is in this process, and otherwise publishes the message
on the channel of the process that holds it, which delivers it in order.

Messages to other processes leave in the order they were sent, through one queue. Those sent on the socket
loop's thread wait until the loop has served every socket that was ready, and then go to Redis together in
one round trip (`publish_after_each_round`); another thread's message goes at once, with any waiting
before it.

Nothing is lost in silence. Pub/sub delivers a message only to a subscriber listening at that moment, so:

* a message Redis refused, or that no process was subscribed to hear, waits (with the later ones for the same
  process) and goes again at each heartbeat; once it has failed for `RETRY_S` it becomes a close of the
  connection it was for, so that its browser reconnects and rejoins (a rejoin sends the game's state); a close
  that Redis answered nobody heard for another `RETRY_S` is dropped (its process is gone, and its connections
  are swept as orphans), and one Redis did not answer goes on waiting;
* a process whose subscription broke (redis-py reconnects and resubscribes by itself) may have missed messages:
  it closes its connections once subscribed again, so that their browsers reconnect and rejoin.

Processes beat a heartbeat into Redis and list their connections there. When a process stops beating
(it was killed), any other process finds its connections (`orphans`) and reports them disconnected, so
the dropouts, grace periods and timeouts of that process's players still happen.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis
import redis.client

from gymcast.relay.protocol import ServerMessages
from gymcast.relay.socket_loop import SocketLoop

HEARTBEAT_S = 1.0
RETRY_S = 3.0
"""How long a message to another process is retried before its connection is closed instead."""
SUBSCRIBE_WAIT_S = 5.0
"""How long a connection's attach waits for this process's first subscription to Redis."""
DEAD_AFTER_S = 8.0
"""A process that has not beaten for this long is dead: its connections are reported disconnected."""

log = logging.getLogger("gymcast.relay")


class LocalPeer(Protocol):
    """A connection held by this process."""

    def deliver(self, text: str, rate_limited: bool) -> None: ...

    def close(self) -> None: ...


@dataclass
class Outgoing:
    """A message for a connection in another process; `text` None closes it. `failed_at`: when a publish of it
    first failed or went unheard (monotonic seconds), None until then."""

    channel: str
    address: str
    text: str | None
    rate_limited: bool
    failed_at: float | None = None

    def envelope(self) -> str:
        return json.dumps({"to": self.address, "text": self.text, "limited": self.rate_limited}, separators=(",", ":"))


class _LossAwarePubSub(redis.client.PubSub):
    """A subscription that notes when redis-py reconnected and resubscribed it: what was published meanwhile is lost."""

    resubscribed = False

    def on_connect(self, connection: object) -> None:
        self.resubscribed |= bool(self.channels)
        super().on_connect(connection)


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

    def __init__(self, client: redis.Redis, prefix: str, reconnect_all: Callable[[str], None]) -> None:
        """`reconnect_all` is called when this process's connections may have missed messages (the other
        processes took it for dead and reported its connections gone, or its subscription broke), with why: it must
        close them, so that their browsers reconnect and rejoin."""
        self.redis = client
        self.prefix = prefix
        self.process = uuid.uuid4().hex
        self.reconnect_all = reconnect_all
        self._local: dict[str, LocalPeer] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._stopped = threading.Event()
        self._subscribed = threading.Event()  # this process listens on its channel (from the first subscription on)
        self._loop: SocketLoop | None = None
        self._outgoing: list[Outgoing] = []  # not yet published, in the order sent
        self._unsent: list[Outgoing] = []  # published and unheard (or refused), to go again before `_outgoing`
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
        """Give a connection of this process an address, and list it (with its session) as this process's. Waits
        (briefly) until this process listens on its channel, so that nothing is sent to the connection before."""
        self._subscribed.wait(SUBSCRIBE_WAIT_S)
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
            loop = self._loop
            in_loop = loop is not None and loop.in_loop()
            with self._outgoing_lock:
                self._outgoing.append(Outgoing(self._channel(process), address, text, rate_limited))
                schedule = in_loop and not self._flush_scheduled
                self._flush_scheduled |= schedule
            if schedule:
                loop.call_soon(self._publish_outgoing)  # type: ignore[union-attr]
            elif not in_loop:
                self._publish_outgoing()

    def _publish_outgoing(self, retry: bool = False) -> None:
        """Publish every message waiting, in the order sent, in one round trip. A message that failed or that no
        process heard waits in `_unsent`, and so do later ones for the same process (their order is kept); they
        go again when `retry` is set (by the heartbeat, once a second, so that an unreachable process costs little)."""
        with self._publishing:
            with self._outgoing_lock:
                new, self._outgoing = self._outgoing, []
                self._flush_scheduled = False
            if retry:
                messages, self._unsent = self._unsent + new, []
            else:
                held = {message.channel for message in self._unsent}
                messages = [message for message in new if message.channel not in held]
                self._unsent += [message for message in new if message.channel in held]
            if not messages:
                return
            pipe = self.redis.pipeline(transaction=False)
            for message in messages:
                pipe.publish(message.channel, message.envelope())
            answered = True
            try:
                heard = pipe.execute()
            except (redis.RedisError, OSError) as error:
                log.warning("relay: %d messages to other processes wait for Redis (%r)", len(messages), error)
                heard, answered = [0] * len(messages), False
            now = time.monotonic()
            unsent = []
            for message, listeners in zip(messages, heard, strict=True):
                if listeners:
                    continue
                if message.failed_at is None:
                    message.failed_at = now
                    unsent.append(message)
                elif now - message.failed_at <= RETRY_S:
                    unsent.append(message)
                elif (instead := self._given_up(message, answered, now)) is not None:
                    unsent.append(instead)
            self._unsent = _one_close_each(unsent) + self._unsent

    @staticmethod
    def _given_up(message: Outgoing, answered: bool, now: float) -> Outgoing | None:
        """Past `RETRY_S`: a message becomes a close of its connection, so that its browser reconnects and rejoins;
        a close that Redis answered nobody heard is dropped (its process is gone: its connections are swept as
        orphans), and one Redis did not answer goes on waiting."""
        if message.text is not None:
            log.error(
                "relay: a message to %s was not delivered within %g s: closing that connection",
                message.address,
                RETRY_S,
            )
            return Outgoing(message.channel, message.address, None, False, now)
        if answered:
            log.error("relay: no process holds %s any more: its close is dropped", message.address)
            return None
        return message

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
        subscribed_before = False
        while not self._stopped.is_set():
            try:
                pubsub = _LossAwarePubSub(self.redis.connection_pool, ignore_subscribe_messages=True)
                pubsub.subscribe(self._channel(self.process))
                self._subscribed.set()
                if subscribed_before:
                    self._missed_messages("subscribed again after an error")
                subscribed_before = True
                while not self._stopped.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if pubsub.resubscribed:
                        pubsub.resubscribed = False
                        self._missed_messages("redis-py reconnected the subscription")
                    if message is not None:
                        envelope = json.loads(message["data"])
                        self._deliver_here(envelope["to"], envelope["text"], envelope["limited"])
            except Exception as error:  # noqa: BLE001 (Redis, or a message or a close that failed: resubscribe)
                unexpected = not isinstance(error, redis.RedisError | OSError)
                log.warning("relay: lost the Redis subscription (%r); resubscribing", error, exc_info=unexpected)
                self._stopped.wait(0.5)

    def _missed_messages(self, why: str) -> None:
        log.warning("relay: messages to this process may have been lost (%s): its connections reconnect", why)
        self.reconnect_all("this host process may have missed messages; reconnect")

    def beat(self) -> bool:
        """Tell the other processes this one is alive; True when it was not listed (taken for dead)."""
        return bool(self.redis.zadd(f"{self.prefix}processes", {self.process: _redis_time(self.redis)}))

    def _beat_forever(self) -> None:
        """Beat every `HEARTBEAT_S` in a thread of its own, so that a busy relay timer cannot delay it."""
        while not self._stopped.wait(HEARTBEAT_S):
            try:
                if self.beat():
                    self.reconnect_all("the other host processes took this one for dead; reconnect")
            except (redis.RedisError, OSError) as error:
                log.warning("relay: heartbeat failed: %r", error)
            if self._unsent:
                self._publish_outgoing(retry=True)

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


def _one_close_each(messages: list[Outgoing]) -> list[Outgoing]:
    """`messages` in order, without what follows a close of the same connection (a closed connection hears nothing
    more): one close per connection at most, whatever comes back from Redis."""
    closed: set[str] = set()
    kept = []
    for message in messages:
        if message.address in closed:
            continue
        if message.text is None:
            closed.add(message.address)
        kept.append(message)
    return kept
