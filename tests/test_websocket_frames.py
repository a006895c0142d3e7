"""The relay's WebSocket splits frames itself (issue 18): whatever a client's frames are and however its bytes
are cut on the way, every message arrives whole, once, in order, and every ping gets its pong. A property test
over a real socket pair, the host's socket loop and wsproto as the client."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, Ping, Pong, TextMessage

from gymcast.relay.socket_loop import SocketLoop
from gymcast.relay.websocket import Limits, ServerWebSocket

LIMITS = Limits(max_message_bytes=256 * 1024)

messages = st.lists(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        st.binary(min_size=8, max_size=8).map(lambda block: block * 8500),  # a 64-bit length: the protocol's parser
    ),
    min_size=1,
    max_size=8,
)


def _open(loop: SocketLoop) -> tuple[ServerWebSocket, socket.socket]:
    server, client = socket.socketpair()
    key = base64.b64encode(os.urandom(16)).decode()
    environ = {
        "gunicorn.socket": server,
        "HTTP_HOST": "relay.test",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": key,
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
    }
    ws = ServerWebSocket(environ, LIMITS, loop)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101")
    return ws, client


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sent=messages,
    fragments=st.lists(st.integers(min_value=1, max_value=4), min_size=8, max_size=8),
    pings=st.lists(st.booleans(), min_size=8, max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=40),
)
def test_every_message_arrives_whole_and_in_order_however_it_is_framed_and_cut(sent, fragments, pings, cuts):
    loop = SocketLoop()
    ws, client = _open(loop)
    received: list[str | bytes] = []
    arrived = threading.Condition()

    def handle(message: str | bytes) -> None:
        with arrived:
            received.append(message)
            arrived.notify_all()

    ws.dispatch(handle)
    conn = Connection(ConnectionType.CLIENT)  # already open: the handshake is done
    data = b""
    ping_payloads = []
    for index, message in enumerate(sent):
        pieces = fragments[index]
        size = max(1, -(-len(message) // pieces))
        parts = [message[at : at + size] for at in range(0, len(message), size)] or [message]
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            event = (
                TextMessage(part, message_finished=last)
                if isinstance(message, str)
                else BytesMessage(part, message_finished=last)
            )
            data += conn.send(event)
            if pings[index] and number == 0:  # a control frame between a message's fragments
                payload = f"p{index}".encode()
                ping_payloads.append(payload)
                data += conn.send(Ping(payload))
    try:
        at, cut = 0, 0
        while at < len(data):
            step = cuts[cut % len(cuts)]
            client.sendall(data[at : at + step])
            at, cut = at + step, cut + 1
        deadline = time.monotonic() + 10
        with arrived:
            while len(received) < len(sent) and time.monotonic() < deadline:
                arrived.wait(0.1)
        assert received == sent
        pongs: list[bytes] = []
        client.settimeout(5)
        while len(pongs) < len(ping_payloads):
            conn.receive_data(client.recv(65536))
            pongs += [bytes(event.payload) for event in conn.events() if isinstance(event, Pong)]
        assert pongs == ping_payloads
        assert ws.close_reason is None
    finally:
        ws.abort("test over")
        loop.stop()
        client.close()


class _CountingSocket:
    """The server's socket, counting the `send` calls the WebSocket makes on it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.sends = 0

    def send(self, data: bytes, flags: int = 0) -> int:
        self.sends += 1
        return self._sock.send(data, flags)

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def _client_messages(conn: Connection, client: socket.socket, count: int) -> list[str]:
    texts: list[str] = []
    client.settimeout(5)
    while len(texts) < count:
        conn.receive_data(client.recv(65536))
        texts += [event.data for event in conn.events() if isinstance(event, TextMessage)]
    return texts


def test_what_one_read_makes_a_connection_send_leaves_in_one_send_and_in_order():
    """The loop defers the writes its handlers make while it handles a ready socket, and writes each connection's
    at once when it is done with it; a send from another thread leaves at once."""
    loop = SocketLoop()
    ws, client = _open(loop)
    counting = _CountingSocket(ws.sock)
    ws.sock = counting  # type: ignore[assignment]  # the loop reads and watches through it too
    ws.dispatch(lambda message: [ws.send(f"{message}-{copy}") for copy in range(3)])
    conn = Connection(ConnectionType.CLIENT)
    try:
        assert ws.send("from another thread")
        assert counting.sends == 1  # written at once, with no wake-up of the loop
        assert _client_messages(conn, client, 1) == ["from another thread"]
        client.sendall(b"".join(conn.send(TextMessage(f"m{index}")) for index in range(5)))  # read in one wake-up
        answers = _client_messages(conn, client, 15)
        assert answers == [f"m{index}-{copy}" for index in range(5) for copy in range(3)]
        assert counting.sends == 2, f"{counting.sends - 1} sends for one read's 15 messages"
        assert ws.close_reason is None
    finally:
        ws.abort("test over")
        loop.stop()
        client.close()
