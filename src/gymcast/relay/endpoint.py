"""The relay's websocket endpoint (flask-sock) and the timer thread that drives its clocks."""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, current_app
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from gymcast.relay.coordinator import Relay
from gymcast.relay.effects import Effects
from gymcast.relay.protocol import MAX_MESSAGE_BYTES, Error, Join, ProtocolError, ServerMessages, parse_message
from gymcast.relay.rules import networked_games
from gymcast.storage import EventStore
from gymcast.tokens import token_matches

JOIN_TIMEOUT_S = 10
TICK_S = 0.2
SOCKET_OPTIONS = {"max_message_size": MAX_MESSAGE_BYTES, "ping_interval": 5}

relay_socket = Blueprint("relay", __name__)
sock = Sock()


class SocketPeer:
    """One browser's websocket; sends are serialized, and a closed socket just stops receiving."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._lock = threading.Lock()

    def send(self, message: ServerMessages) -> None:
        with self._lock:
            try:
                self.ws.send(message.to_json())
            except (ConnectionClosed, OSError):
                pass  # its reader notices the close and reports the disconnect

    def close(self) -> None:
        try:
            self.ws.close()
        except (ConnectionClosed, OSError):
            pass


class RelayService:
    """The relay of one host: its rooms, where its events are logged, and its timer thread."""

    def __init__(self, manifest: dict[str, Any], store: EventStore) -> None:
        games = networked_games(manifest)
        self.relay = Relay(games)
        self.store = store
        self._timer: threading.Thread | None = None
        if games:
            self._timer = threading.Thread(target=self._run_timer, name="gymcast-relay-timer", daemon=True)
            self._timer.start()

    def perform(self, effects: Effects) -> None:
        """Log first (durably), then send, then close."""
        for group_id, kind, data in effects.records:
            self.store.append_relay_event(group_id, kind, data)
        for peer, message in effects.sends:
            peer.send(message)
        for peer in effects.closes:
            peer.close()

    def _run_timer(self) -> None:
        stop = threading.Event()
        while not stop.wait(TICK_S):
            self.perform(self.relay.tick())


@sock.route("/api/v1/relay", bp=relay_socket)
def relay_endpoint(ws: Any) -> None:
    """One browser: a `join` with its session token first, then game messages until it disconnects."""
    service: RelayService = current_app.extensions["gymcast.relay"]
    peer = SocketPeer(ws)
    join = _authenticated_join(ws, peer, service)
    if join is None:
        return
    service.perform(service.relay.join(peer, join))
    try:
        while True:
            text = ws.receive()
            if text is None:
                continue
            try:
                message = parse_message(text)
            except ProtocolError as error:
                peer.send(Error(message=str(error)))
                continue
            if isinstance(message, Join):
                peer.send(Error(message="already joined; open a new connection to join again"))
                continue
            service.perform(service.relay.receive(peer, join.session_id, message))
    finally:
        service.perform(service.relay.disconnect(peer, join.session_id))


def _authenticated_join(ws: Any, peer: SocketPeer, service: RelayService) -> Join | None:
    """The first message, which must be a valid `join` for an existing session with its token."""
    text = ws.receive(timeout=JOIN_TIMEOUT_S)
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
    except ProtocolError as error:
        peer.send(Error(message=str(error), fatal=True))
        return None
    return message
