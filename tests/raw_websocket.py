"""A WebSocket client on a bare socket (wsproto), for tests that misbehave on purpose: it never answers
WebSocket pings by itself, can shrink its receive buffer, offer compression, and write a frame as slowly
as it likes."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from gymcast.contracts import RELAY_SCHEMA


class RawWebSocket:
    """Connects to the relay; `accepted` is the host's handshake answer."""

    def __init__(self, base_url: str, receive_buffer: int | None = None, offer_deflate: bool = False) -> None:
        url = urlsplit(base_url)
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((url.hostname, url.port))
        self.conn = WSConnection(ConnectionType.CLIENT)
        extensions = [PerMessageDeflate()] if offer_deflate else []
        self.sock.sendall(self.conn.send(Request(host=url.netloc, target="/api/v1/relay", extensions=extensions)))
        self.messages: list[dict[str, Any]] = []
        self.closed = False
        self.close_code: int | None = None  # the host's close frame's code
        self.pongs: list[bytes] = []  # the payloads of the host's pongs
        self.accepted: AcceptConnection | None = None
        self._text = ""
        while self.accepted is None:
            self._pump(10)

    def join(self, session: tuple[str, str], game: str = "main") -> None:
        self.send(type="join", schema=RELAY_SCHEMA, session_id=session[0], token=session[1], game=game)

    def frame(self, **message: Any) -> bytes:
        """The bytes of one text frame carrying `message`, to write as the test likes."""
        return self.conn.send(TextMessage(data=json.dumps(message)))

    def send(self, **message: Any) -> None:
        self.sock.sendall(self.frame(**message))

    def expect(self, kind: str, timeout_s: float = 10, answer_pings: bool = True) -> dict[str, Any]:
        """Read until a message of type `kind` arrives, answering the relay's (JSON) pings on the way."""
        deadline = time.monotonic() + timeout_s
        seen = len(self.messages)
        while True:
            for message in self.messages[seen:]:
                seen += 1
                if message["type"] == "ping" and answer_pings:
                    self.send(type="pong", t=message["t"])
                if message["type"] == kind:
                    return message
            left = deadline - time.monotonic()
            assert left > 0 and not self.closed, (
                f"no {kind!r} within {timeout_s} s (closed: {self.closed}); got {[m['type'] for m in self.messages]}"
            )
            self._pump(left)

    def wait_closed(self, timeout_s: float) -> bool:
        """Read (and drop) everything until the host closes the connection; whether it did in time."""
        deadline = time.monotonic() + timeout_s
        while not self.closed and time.monotonic() < deadline:
            self._pump(deadline - time.monotonic())
        return self.closed

    def _pump(self, timeout_s: float) -> None:
        self.sock.settimeout(max(0.01, timeout_s))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        self.conn.receive_data(data)
        for event in self.conn.events():
            if isinstance(event, AcceptConnection):
                self.accepted = event
            elif isinstance(event, TextMessage):
                self._text += event.data
                if event.message_finished:
                    self.messages.append(json.loads(self._text))
                    self._text = ""
            elif isinstance(event, CloseConnection):
                self.closed = True
                self.close_code = event.code
            elif isinstance(event, Pong):
                self.pongs.append(bytes(event.payload))
            elif isinstance(event, Ping):
                pass  # on purpose: liveness must not depend on pongs

    def close(self) -> None:
        self.sock.close()
