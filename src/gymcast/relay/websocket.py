"""A server-side WebSocket that no client can use to stall the host (wsproto over the request's socket).

Compared with simple-websocket, which the relay used before:

* no permessage-deflate: a compressed frame cannot inflate on the host;
* a message over `max_message_bytes` closes the connection (1009), and `receive` can never hang: the
  closed flag and the wake-up are set together under one condition;
* any incoming data counts as liveness: pings are sent only when nothing was heard for `ping_every_s`,
  and the connection is dropped only when nothing at all was heard for `idle_timeout_s` (a large
  message on a slow uplink keeps it alive);
* sends never block the caller: they go to a bounded queue, written by this connection's own writer
  thread; a full queue, or a write that makes no progress for `send_stall_s`, disconnects the slow
  consumer;
* the inbound backlog is bounded: the reader stops reading (TCP pushes back on the client) while
  `inbound_messages` or `inbound_bytes` wait to be handled.

No lock is held across socket I/O: the per-connection lock guards only wsproto's in-memory state and
the queues.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from flask import Response
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError


class WebSocketClosed(Exception):
    """The connection is closed; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """What one connection may cost the host."""

    max_message_bytes: int
    inbound_messages: int = 256
    inbound_bytes: int = 0  # 0: twice max_message_bytes
    outbound_messages: int = 4096
    outbound_bytes: int = 0  # 0: three times max_message_bytes
    send_stall_s: float = 10.0
    ping_every_s: float = 5.0
    idle_timeout_s: float = 15.0
    read_bytes: int = 65536

    def inbound_cap(self) -> int:
        return self.inbound_bytes or 2 * self.max_message_bytes

    def outbound_cap(self) -> int:
        return self.outbound_bytes or 3 * self.max_message_bytes


class ServerWebSocket:
    """One accepted WebSocket on a WSGI request's socket (werkzeug's or gunicorn's)."""

    def __init__(self, environ: dict[str, Any], limits: Limits) -> None:
        sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
        if sock is None:
            raise RuntimeError("the relay's WebSocket needs werkzeug or gunicorn (no socket in the WSGI environ)")
        self.mode = "werkzeug" if "werkzeug.socket" in environ else "gunicorn"
        self.sock: socket.socket = sock
        self.limits = limits
        self.close_reason: str | None = None
        self._lock = threading.Lock()
        # One condition per kind of waiter, all on the one lock: a message wakes only the thread that takes it
        # (each relayed action used to wake every thread of both connections).
        self._inbox_filled = threading.Condition(self._lock)  # the handler waits for a message
        self._inbox_drained = threading.Condition(self._lock)  # the reader waits for room in the backlog
        self._writer_wanted = threading.Condition(self._lock)  # the writer waits for something to write
        self._ws = WSConnection(ConnectionType.SERVER)
        self._inbox: deque[str | bytes] = deque()
        self._inbox_bytes = 0
        self._outbox: deque[bytes | str] = deque()  # text/bytes messages
        self._outbox_bytes = 0
        self._control: deque[Event] = deque()  # pings and pongs go before queued messages
        self._close_frame: CloseConnection | None = None  # sent once the queued messages are
        self._closing = False  # a close frame is queued: nothing more is queued after it
        self._writing = False  # a thread is writing to the socket: no other may start a frame
        self._leftover = b""  # the unsent end of a frame `send` started: written before anything else
        self._last_heard = time.monotonic()
        self._handshake(environ)
        self._writer = threading.Thread(target=self._write, name="gymcast-ws-writer", daemon=True)
        self._reader = threading.Thread(target=self._read, name="gymcast-ws-reader", daemon=True)
        self._reader.start()
        self._writer.start()

    # -- the handler's side ------------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next message; None after `timeout` seconds without one. Raises WebSocketClosed once the
        connection is closed and every message received before has been handed out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._inbox:
                if self.close_reason is not None:
                    raise WebSocketClosed(self.close_reason)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._inbox_filled.wait(left)
            message = self._inbox.popleft()
            self._inbox_bytes -= len(message)
            self._inbox_drained.notify()
            return message

    def send(self, data: str | bytes) -> bool:
        """Send or queue a message; never blocks. A full queue closes the connection (a slow consumer): False.

        When nothing is queued or being written, the frame is written at once without waiting
        (MSG_DONTWAIT) and whatever the socket does not take is left to the writer thread."""
        with self._lock:
            if self.close_reason is not None or self._closing:
                return False
            if self._writing or self._leftover or self._control or self._outbox:
                if (
                    len(self._outbox) >= self.limits.outbound_messages
                    or self._outbox_bytes + len(data) > self.limits.outbound_cap()
                ):
                    self._abort_locked("slow consumer: the send queue is full")
                    return False
                self._outbox.append(data)
                self._outbox_bytes += len(data)
                self._writer_wanted.notify()
                return True
            self._writing = True
            frame = self._ws.send(TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data))
        try:
            sent = self.sock.send(frame, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            sent = len(frame)
            self.abort(f"gone: {error}")
        with self._lock:
            self._leftover = frame[sent:]
            self._writing = False
            if self._has_output_locked():  # the rest of the frame, or what others queued meanwhile
                self._writer_wanted.notify()
        return True

    def close(self, code: int = CloseReason.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close after the queued messages are sent (or at once, if the writer is stuck)."""
        with self._lock:
            self._queue_close_locked(code, reason)

    def abort(self, reason: str) -> None:
        """Drop the connection now, unsent messages and all."""
        with self._lock:
            self._abort_locked(reason)

    # -- internals ---------------------------------------------------------------------------------

    def _handshake(self, environ: dict[str, Any]) -> None:
        request = b"GET / HTTP/1.1\r\n"
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                header = "-".join(part.capitalize() for part in key[5:].split("_"))
                request += f"{header}: {value}\r\n".encode("latin-1")
        self._ws.receive_data(request + b"\r\n")
        for event in self._ws.events():
            if isinstance(event, Request):
                # no extensions: permessage-deflate is never negotiated
                self._write_all(self._ws.send(AcceptConnection(extensions=[])), time.monotonic() + 10)
                return
        self._write_all(self._ws.send(RejectConnection(status_code=400)), time.monotonic() + 10)
        raise WebSocketClosed("not a WebSocket handshake")

    def _abort_locked(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self._outbox.clear()
        self._outbox_bytes = 0
        self._control.clear()
        self._close_frame = None
        self._leftover = b""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a reader or writer blocked on the socket
        except OSError:
            pass
        self._wake_all_locked()

    def _queue_close_locked(self, code: int, reason: str) -> None:
        if self._closing or self.close_reason is not None:
            return
        self._closing = True
        self._close_frame = CloseConnection(code=code, reason=reason)
        self._wake_all_locked()

    def _read(self) -> None:
        """Read the socket into messages until it closes; ping and time out on silence."""
        limits = self.limits
        partial: list[str | bytes] = []
        partial_bytes = 0
        last_ping = 0.0
        try:
            while self.close_reason is None:
                now = time.monotonic()
                silent = now - self._last_heard
                if silent >= limits.idle_timeout_s:
                    self.abort(f"nothing heard for {limits.idle_timeout_s:.0f} s")
                    return
                if silent >= limits.ping_every_s and now - last_ping >= limits.ping_every_s:
                    last_ping = now
                    with self._lock:
                        if not self._closing:
                            self._control.append(Ping())
                            self._writer_wanted.notify()
                if not _ready(self.sock, select.POLLIN, min(1.0, limits.ping_every_s)):
                    continue
                data = self.sock.recv(limits.read_bytes)
                if not data:
                    self.abort("the client closed the connection")
                    return
                self._last_heard = time.monotonic()
                with self._lock:
                    self._ws.receive_data(data)
                    events = list(self._ws.events())
                for event in events:
                    if isinstance(event, Message):
                        partial.append(event.data)
                        partial_bytes += len(event.data)
                        if partial_bytes > limits.max_message_bytes:
                            with self._lock:
                                self._queue_close_locked(CloseReason.MESSAGE_TOO_BIG, "message too big")
                                self.close_reason = f"a message over {limits.max_message_bytes} bytes"
                                self._wake_all_locked()
                            return
                        if event.message_finished:
                            message = "".join(partial) if isinstance(event, TextMessage) else b"".join(partial)  # type: ignore[arg-type]
                            partial, partial_bytes = [], 0
                            if not self._deliver(message):
                                return
                    elif isinstance(event, Ping):
                        with self._lock:
                            if not self._closing:
                                self._control.append(event.response())
                                self._writer_wanted.notify()
                    elif isinstance(event, CloseConnection):
                        with self._lock:
                            if not self._closing:
                                self._closing = True
                                self._close_frame = event.response()
                            self.close_reason = f"closed by the client ({event.code})"
                            self._wake_all_locked()
                        return
        except (OSError, ValueError, LocalProtocolError, RemoteProtocolError) as error:
            self.abort(f"connection error: {error!r}")

    def _deliver(self, message: str | bytes) -> bool:
        """Hand a message to the handler, waiting while the backlog is full (the client is pushed back)."""
        with self._lock:
            while self._inbox and (
                len(self._inbox) >= self.limits.inbound_messages
                or self._inbox_bytes + len(message) > self.limits.inbound_cap()
            ):
                if self.close_reason is not None:
                    return False
                self._inbox_drained.wait(1.0)
            if self.close_reason is not None:
                return False
            self._inbox.append(message)
            self._inbox_bytes += len(message)
            self._inbox_filled.notify()
            return True

    def _write(self) -> None:
        """Write pings and pongs first, then queued messages, then the close frame; stop after it or on an abort."""
        while True:
            with self._lock:
                while self._writing or not (self._has_output_locked() or self.close_reason is not None):
                    self._writer_wanted.wait()
                if self.close_reason is not None and not self._closing:  # aborted
                    self._shutdown_locked()
                    return
                self._writing = True
                if self._leftover:
                    frame, self._leftover = self._leftover, b""
                    event: Event | None = None
                elif self._control:
                    event = self._control.popleft()
                elif self._outbox:
                    data = self._outbox.popleft()
                    self._outbox_bytes -= len(data)
                    event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
                elif self._close_frame is not None:
                    event, self._close_frame = self._close_frame, None
                else:  # aborted, or closed with nothing left to say
                    self._shutdown_locked()
                    return
                try:
                    frame = self._ws.send(event) if event is not None else frame
                except LocalProtocolError:
                    self._abort_locked("the connection is already closing")
                    return
            try:
                self._write_all(frame, None)
            except OSError as error:
                self.abort(f"slow consumer or gone: {error}")
                return
            with self._lock:
                self._writing = False  # only this thread waits for that: it loops
            if isinstance(event, CloseConnection):
                with self._lock:
                    if self.close_reason is None:
                        self.close_reason = "closed by the host"
                    self._shutdown_locked()
                return

    def finish(self, timeout_s: float) -> None:
        """Close, and wait up to `timeout_s` for the queued messages and the close frame to be written; then
        drop the connection and wait for both threads, so none touches the socket once the server reuses it."""
        self.close()
        self._writer.join(timeout_s)
        self.abort("closed by the host")
        self._writer.join()
        self._reader.join()

    def _shutdown_locked(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._wake_all_locked()

    def _has_output_locked(self) -> bool:
        """Whether anything waits to be written: a frame's rest, a ping or pong, a message or the close frame."""
        return bool(self._leftover or self._control or self._outbox or self._close_frame is not None)

    def _wake_all_locked(self) -> None:
        """The connection is closing or closed: every waiting thread must look."""
        self._inbox_filled.notify_all()
        self._inbox_drained.notify_all()
        self._writer_wanted.notify_all()

    def _write_all(self, data: bytes, deadline: float | None) -> None:
        """Write everything, without ever blocking longer than `send_stall_s` without progress."""
        view = memoryview(data)
        while view:
            stall = self.limits.send_stall_s if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                sent = self.sock.send(view, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if not _ready(self.sock, select.POLLOUT, stall):
                    raise TimeoutError(f"no progress writing for {stall:.0f} s") from None
                continue
            view = view[sent:]


def _ready(sock: socket.socket, events: int, timeout_s: float) -> bool:
    """Whether `sock` is ready for `events` (POLLIN/POLLOUT) within `timeout_s`; a closed socket is "ready"."""
    poller = select.poll()
    poller.register(sock, events)
    return bool(poller.poll(max(0, int(timeout_s * 1000))))


class WebSocketResponse(Response):
    """What the view returns once its WebSocket is done: nothing more for werkzeug to send; gunicorn
    must not write a response at all."""

    def __init__(self, ws: ServerWebSocket) -> None:
        super().__init__()
        self.ws = ws

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.ws.mode == "gunicorn":
            raise StopIteration()
        return super().__call__(environ, start_response)
