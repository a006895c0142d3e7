"""The relay's websocket endpoint and the timer thread that drives its clocks.

The request thread of a connection does the handshake and checks the `join`; from then on the process's
socket loop (`socket_loop.SocketLoop`) reads each message, hands it to the coordinator and performs its
effects on the loop's own thread: relay events are logged, messages are written without blocking (what a
socket does not take waits in its bounded buffer), and connections are closed. So one slow or hostile
client can stall neither the timer nor anyone else. The request thread waits until its connection closes,
then reports the disconnect.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import threading
import time
from functools import partial
from typing import Any

import redis
from flask import Blueprint, current_app, request

from gymcast.relay.coordinator import Relay
from gymcast.relay.effects import Effects, Peer
from gymcast.relay.protocol import MAX_MESSAGE_BYTES, Error, Join, ProtocolError, ServerMessages, parse_message
from gymcast.relay.redis_state import RedisRelayState
from gymcast.relay.rules import GameRules, networked_games
from gymcast.relay.socket_loop import SocketLoop
from gymcast.relay.switchboard import RemotePeer, Switchboard
from gymcast.relay.websocket import Limits, ServerWebSocket, WebSocketClosed, WebSocketResponse
from gymcast.storage import EventStore
from gymcast.tokens import token_matches

JOIN_TIMEOUT_S = 10
TICK_S = 0.2
LIMITS = Limits(max_message_bytes=MAX_MESSAGE_BYTES)
"""What a relay connection may cost; its read budget grows for games that need more (`connection_limits`)."""
ERRORS_PER_S = 5.0
ERROR_BURST = 20
"""Error replies a connection gets: a burst, then this many per second; the others are dropped (counted)."""

relay_socket = Blueprint("relay", __name__)
log = logging.getLogger("gymcast.relay")


def connection_limits(games: dict[str, GameRules]) -> Limits:
    """`LIMITS`, with a read budget that covers the most demanding game's browsers (fast games with many seats)."""
    per_s = max([LIMITS.messages_per_s, *(rules.messages_per_s() for rules in games.values())])
    burst = max(LIMITS.message_burst, math.ceil(2 * per_s))
    return dataclasses.replace(LIMITS, messages_per_s=per_s, message_burst=burst)


def shared_prefix(manifest: dict[str, Any], games: dict[str, GameRules]) -> str:
    """Where a build's relay state lives in a shared Redis: hosts serving the same build, with the same
    rules for its networked games, meet there."""
    rules = hashlib.sha256(repr(sorted(games.items())).encode()).hexdigest()[:16]
    return f"gymcast:relay:{str(manifest.get('build_id') or 'unbuilt')[:64]}:{rules}:"


RESTART_CODE = 1012
"""WebSocket close code "service restart": the client should reconnect."""
REDIS_CONNECTIONS = 64
"""Connections to Redis one host process opens at most. An operation holds one from its first read to its
commit, so a crowd joining at once waits for one (up to REDIS_WAIT_S) rather than failing (redis-py's default
pool fails beyond 100)."""
REDIS_WAIT_S = 10.0


class ErrorBudget:
    """A token bucket for a connection's error replies."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.tokens = float(ERROR_BURST)
        self.at = clock()
        self.dropped = 0

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(ERROR_BURST, self.tokens + (now - self.at) * ERRORS_PER_S)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False


class SocketPeer:
    """One browser's websocket: sends are queued (a full queue disconnects it), error replies are rate-limited."""

    def __init__(self, ws: ServerWebSocket) -> None:
        self.ws = ws
        self.errors = ErrorBudget()

    def send(self, message: ServerMessages) -> None:
        self.deliver(message.to_json(), message.rate_limited())

    def deliver(self, text: str, rate_limited: bool) -> None:
        """Send a message's JSON; `rate_limited` ones only while the error budget lasts."""
        if rate_limited and not self.errors.take():
            return
        self.ws.send(text)

    def close(self) -> None:
        self.ws.close()


class RelayService:
    """The relay of one host process: its coordinator, where its events are logged, and its timer thread.

    With `redis_url`, the waiting rooms and groups live in that Redis, shared with every other host process
    serving the same build, and messages reach connections held by other processes (see `switchboard`).
    """

    def __init__(self, manifest: dict[str, Any], store: EventStore, redis_url: str | None = None) -> None:
        games = networked_games(manifest)
        self.limits = connection_limits(games)
        self._sockets: set[ServerWebSocket] = set()
        self._sockets_lock = threading.Lock()
        self._stopped = threading.Event()
        self.board: Switchboard | None = None
        if redis_url and games:
            pool = redis.BlockingConnectionPool.from_url(
                redis_url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_WAIT_S
            )
            self.board = Switchboard(redis.Redis(connection_pool=pool), shared_prefix(manifest, games), self.close_all)
            self.relay = Relay(games, clock=time.time)
            self.relay.state = RedisRelayState(self.board, games, self.relay.choose)
        else:
            self.relay = Relay(games)
        self.store = store
        self.loop = SocketLoop()
        if self.board is not None:
            self.board.publish_after_each_round(self.loop)
        self._timer: threading.Thread | None = None
        if games:
            self._timer = threading.Thread(target=self._run_timer, name="gymcast-relay-timer", daemon=True)
            self._timer.start()

    def perform(self, effects: Effects) -> None:
        """Log first (durably), then queue the sends, then close."""
        for group_id, kind, data in effects.records:
            self.store.append_relay_event(group_id, kind, data)
        for peer, message in effects.sends:
            peer.send(message)
        for peer in effects.closes:
            peer.close()

    def attach(self, local: SocketPeer, session_id: str) -> Peer:
        """The peer the relay knows this connection by: itself, or its address when the state is shared."""
        return local if self.board is None else self.board.attach(local, session_id)

    def detach(self, peer: Peer, session_id: str) -> None:
        """The connection's disconnect has been reported: forget it."""
        if isinstance(peer, RemotePeer) and self.board is not None:
            self.board.detach(peer, session_id)

    def ping(self) -> None:
        """Raise when the shared state (Redis) does not answer."""
        if self.board is not None:
            self.board.ping()

    def track(self, ws: ServerWebSocket, open_: bool) -> None:
        """Remember (or forget) a connected websocket, so that a shutdown can close it."""
        with self._sockets_lock:
            (self._sockets.add if open_ else self._sockets.discard)(ws)

    def close_all(self, reason: str = "this host process is restarting; reconnect") -> None:
        """Tell every connected browser to reconnect (close code 1012, service restart, with `reason`): the
        browser reconnects and rejoins its group, through another host process if this one is going away."""
        with self._sockets_lock:
            sockets = list(self._sockets)
        for ws in sockets:
            ws.close(RESTART_CODE, reason)

    def stop(self) -> None:
        """Stop the timer and, with Redis, the switchboard (tests that start many hosts in one process)."""
        self._stopped.set()
        self.loop.stop()
        if self.board is not None:
            self.board.stop()

    def _run_timer(self) -> None:
        while not self._stopped.wait(TICK_S):
            if self.board is None:
                self.perform(self.relay.tick())
                continue
            try:
                self._shared_tick(self.board)
            except redis.RedisError as error:  # Redis away for a moment: the next tick tries again
                log.warning("relay: timer tick failed: %r", error)

    def _shared_tick(self, board: Switchboard) -> None:
        self.perform(self.relay.tick())
        for peer, session_id in board.orphans():
            self.perform(self.relay.disconnect(peer, session_id, "its host process stopped"))


@relay_socket.route("/api/v1/relay", websocket=True)
def relay_endpoint() -> WebSocketResponse:
    """One browser: a `join` with its session token first, then game messages until it disconnects."""
    service: RelayService = current_app.extensions["gymcast.relay"]
    ws = ServerWebSocket(request.environ, service.limits, service.loop)
    service.track(ws, open_=True)
    try:
        _serve(ws, service)
    finally:
        service.track(ws, open_=False)
        ws.finish(service.limits.send_stall_s)
    return WebSocketResponse(ws)


def _serve(ws: ServerWebSocket, service: RelayService) -> None:
    local = SocketPeer(ws)
    join = _authenticated_join(ws, local, service)
    if join is None:
        return
    peer = service.attach(local, join.session_id)
    try:
        service.perform(service.relay.join(peer, join))
        ws.dispatch(partial(_handle, service=service, local=local, peer=peer, join=join))
        ws.wait_closed()
    finally:
        try:
            service.perform(service.relay.disconnect(peer, join.session_id, ws.close_reason or "the handler stopped"))
        finally:
            service.detach(peer, join.session_id)


def _handle(text: str | bytes, service: RelayService, local: SocketPeer, peer: Peer, join: Join) -> None:
    """One message from a joined browser (on the socket loop's thread)."""
    try:
        message = parse_message(text)
    except ProtocolError as error:
        local.send(Error(message=str(error)))
        return
    if isinstance(message, Join):
        local.send(Error(message="already joined; open a new connection to join again"))
        return
    service.perform(service.relay.receive(peer, join.session_id, message))


def _authenticated_join(ws: ServerWebSocket, peer: SocketPeer, service: RelayService) -> Join | None:
    """The first message, which must be a valid `join` for an existing session with its token."""
    try:
        text = ws.receive(timeout=JOIN_TIMEOUT_S)
    except WebSocketClosed:
        return None
    try:
        if text is None:
            raise ProtocolError(f"send a join message within {JOIN_TIMEOUT_S} s of connecting")
        message = parse_message(text)
        if not isinstance(message, Join):
            raise ProtocolError(f"the first message must be a join, not {message.type!r}")
        if not service.store.session_exists(message.session_id):
            raise ProtocolError(f"unknown session {message.session_id!r}; create it with POST /api/v1/sessions first")
        if not token_matches(service.store.host_secret(), message.session_id, message.token):
            raise ProtocolError("wrong session token; send the token that POST /api/v1/sessions returned")
        session = service.store.get_session(message.session_id)
        if session is not None and session.completed_at is not None:
            raise ProtocolError("this session has completed; its token no longer joins a game")
    except ProtocolError as error:
        peer.send(Error(message=str(error), fatal=True))
        return None
    return message
