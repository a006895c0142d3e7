"""A server-side WebSocket that no client can use to stall the host: websockets' sans-I/O protocol on the
request's own socket, read and written by the process's one socket loop (`socket_loop.SocketLoop`).

* No permessage-deflate: a compressed frame cannot inflate on the host.
* A message over `max_message_bytes` closes the connection (1009).
* Any incoming data counts as liveness: pings are sent only when nothing was heard for `ping_every_s`,
  and the connection is dropped only when nothing at all was heard for `idle_timeout_s` (a large
  message on a slow uplink keeps it alive).
* Sends never block the caller: a frame is written at once without waiting, and whatever the socket does
  not take waits in a bounded buffer that the loop writes; a full buffer, or a buffer that makes no
  progress for `send_stall_s`, disconnects the slow consumer.
* Before a handler is installed (the join), messages wait in a bounded inbox, and the loop stops reading
  while it is full (TCP pushes back on the client). Once `dispatch` installs the handler, the loop hands
  it each message as it is read.
* Each connection reads within a budget of messages and bytes a second (token buckets, with a burst): a client
  that sends faster, say a partner flooding actions, is read no faster than the budget. The loop stops reading
  it until the budget has refilled, so TCP holds it back: nothing is dropped, and it can take neither the loop
  nor its partner's browser from anyone. A client still over its budget after `flood_s` is failed (1008).

The request thread that accepted the connection does the handshake and the join, then parks in
`wait_closed`, so the WSGI server never touches the socket while the loop owns it.

Hot path: the loop splits what it reads into whole frames itself (`_split_frames_locked`). A whole, unfragmented,
masked data frame while the connection is open (every relayed action) is unmasked and handed out here;
every other frame (control frames, fragments, anything malformed or too large) goes to websockets' protocol
whole, so its parser always sits at a frame boundary and keeps its rules. Outgoing messages are framed here
too (`frame_message`), unmasked as a server's frames are.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Response
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.speedups import apply_mask

from gymcast.relay.socket_loop import SocketLoop

log = logging.getLogger("gymcast.relay")


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
    outbound_bytes: int = 0  # 0: three times max_message_bytes
    send_stall_s: float = 10.0
    ping_every_s: float = 5.0
    idle_timeout_s: float = 15.0
    read_bytes: int = 65536
    messages_per_s: float = 500.0
    """A browser sends one action a step for each seat it plays (its own, and those it stands in for), a hash every
    few steps and a pong every few seconds: far fewer than this for usual games. The relay raises it (and the
    burst) for games that could need more (`endpoint.connection_limits`)."""
    message_burst: int = 1000
    """Messages read at once beyond the rate (a rejoining browser sends the steps after its state at once)."""
    bytes_per_s: float = float(4 << 20)
    """Bytes a second beyond the burst of `inbound_cap()` (a snapshot of a large state now and then)."""
    flood_s: float = 10.0
    """A connection whose reads have kept overdrawing its budget this long, never letting it fill up meanwhile, is
    failed (1008, policy violation)."""

    def inbound_cap(self) -> int:
        return self.inbound_bytes or 2 * self.max_message_bytes

    def outbound_cap(self) -> int:
        return self.outbound_bytes or 3 * self.max_message_bytes


Handler = Callable[[str | bytes], None]

_FIN_TEXT, _FIN_BINARY, _MASKED = 0x81, 0x82, 0x80
_LENGTH_16, _LENGTH_64 = 126, 127


def frame_size(data: bytes, pos: int) -> tuple[int, int] | None:
    """The header's and the payload's lengths of the frame at `pos`; None while its header is incomplete."""
    left = len(data) - pos
    if left < 2:
        return None
    second = data[pos + 1]
    header = 6 if second & _MASKED else 2
    length = second & 0x7F
    if length == _LENGTH_16:
        header += 2
        if left < header:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
    elif length == _LENGTH_64:
        header += 8
        if left < header:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 10], "big")
    return header, length


def frame_message(data: str | bytes) -> bytes:
    """A server's unmasked, unfragmented frame for one message (a text frame for a str)."""
    payload = data.encode() if isinstance(data, str) else data
    first = _FIN_TEXT if isinstance(data, str) else _FIN_BINARY
    size = len(payload)
    if size < _LENGTH_16:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, _LENGTH_16, size) + payload
    return struct.pack("!BBQ", first, _LENGTH_64, size) + payload


class ServerWebSocket:
    """One accepted WebSocket on a WSGI request's socket (werkzeug's or gunicorn's)."""

    def __init__(self, environ: dict[str, Any], limits: Limits, loop: SocketLoop) -> None:
        sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
        if sock is None:
            raise RuntimeError("the relay's WebSocket needs werkzeug or gunicorn (no socket in the WSGI environ)")
        self.mode = "werkzeug" if "werkzeug.socket" in environ else "gunicorn"
        self.sock: socket.socket = sock
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each frame goes out at once, as a browser's do
        self.limits = limits
        self.close_reason: str | None = None
        self._loop = loop
        self._lock = threading.RLock()  # re-entered when the loop has stopped and runs a scheduled call at once
        self._changed = threading.Condition(self._lock)  # a message arrived, or the connection closed
        self._done = threading.Event()  # the loop has let go of the socket
        self._protocol = ServerProtocol(extensions=None, max_size=limits.max_message_bytes)
        self._inbox: deque[str | bytes] = deque()
        self._inbox_bytes = 0
        self._handler: Handler | None = None
        self._fragments: list[bytes] = []
        self._fragments_text = False
        self._partial = bytearray()  # the start of a frame not wholly read yet
        self._partial_needed = 0  # the bytes `_partial` must hold before it is worth parsing again
        self._out = bytearray()  # frames the socket has not taken yet
        self._eof = False  # shut the socket once `_out` is written: the close handshake is done
        self._eof_reason = "closed by the host"  # the close reason then
        self._watching_write = False
        self._write_scheduled = False  # `_write_deferred` waits until the loop is done with the socket it handles
        self._reading_paused = False
        self._message_tokens = float(limits.message_burst)  # the read budget's buckets (`_refill_locked`)
        self._byte_tokens = float(limits.inbound_cap())
        self._tokens_at = time.monotonic()
        self._throttled = False  # the budget is overdrawn: the loop does not read until the sweep finds it refilled
        self._throttled_before = False
        # when a read first overdrew the budget since it was last full again (`_fail_a_flood_locked`)
        self._overdrawn_since: float | None = None
        self._last_heard = self._last_progress = self._last_ping = time.monotonic()
        self._handshake(environ)
        loop.call_soon(self._rewatch)

    # -- the request thread's side -----------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next message before `dispatch`; None after `timeout` seconds without one. Raises
        WebSocketClosed once the connection is closed and every message received before has been handed out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._inbox:
                if self.close_reason is not None:
                    raise WebSocketClosed(self.close_reason)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._changed.wait(left)
            message = self._inbox.popleft()
            self._inbox_bytes -= len(message)
            if self._reading_paused:
                self._reading_paused = False
                self._loop.call_soon(self._rewatch)
            return message

    def dispatch(self, handler: Handler) -> None:
        """From now on, the loop hands every message to `handler` on its own thread, the waiting ones first."""
        self._loop.call_soon(lambda: self._start_dispatch(handler))

    def wait_closed(self) -> str:
        """Block until the connection is closing or closed; why."""
        with self._lock:
            while self.close_reason is None:
                self._changed.wait()
            return self.close_reason

    def finish(self, timeout_s: float) -> None:
        """Close, and wait up to `timeout_s` for the queued messages and the close frame to be written; then
        drop the connection, and wait until the loop has let go of the socket, so that nothing touches it once
        the server reuses it."""
        self.close()
        self._done.wait(timeout_s)
        self.abort("closed by the host")
        self._done.wait()

    # -- any thread --------------------------------------------------------------------------------

    def send(self, data: str | bytes) -> bool:
        """Write a message, or buffer what the socket does not take; never blocks. A full buffer closes the
        connection (a slow consumer): False."""
        with self._lock:
            if self.close_reason is not None or self._eof or self._protocol.state is not State.OPEN:
                return False
            self._write_locked((frame_message(data),))  # a buffer over its cap drops the connection
            return self.close_reason is None

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close after the messages already sent are written (or at once, if the writes are stuck)."""
        with self._lock:
            if self.close_reason is None and self._protocol.state is State.OPEN:
                self._protocol.send_close(code, reason)
                self._eof = True  # the server drops the connection once its close frame is out
                self._flush_locked()

    def abort(self, reason: str) -> None:
        """Drop the connection now, unsent messages and all."""
        with self._lock:
            self._abort_locked(reason)

    # -- the loop's side ---------------------------------------------------------------------------

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(self.limits.read_bytes, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError as error:
            self.abort(f"connection error: {error!r}")
            return
        if not data:
            self.abort("the client closed the connection")
            return
        self._last_heard = now = time.monotonic()
        with self._lock:
            if self.close_reason is not None:
                return
            self._byte_tokens -= len(data)
            if self._partial:
                self._partial += data
                if len(self._partial) < self._partial_needed:  # a large frame arriving in many reads
                    return
                data, self._partial = bytes(self._partial), bytearray()
            messages, by_protocol = self._split_frames_locked(data)
            self._message_tokens -= len(messages)
            if self._message_tokens < 0 or self._byte_tokens < 0:
                self._overdrawn_since = self._overdrawn_since or now
                self._refill_locked(now)
                self._fail_a_flood_locked(now)
            still_open = self._protocol.state is State.OPEN
            if by_protocol and still_open:
                self._flush_locked()  # pongs
        for message in messages:  # the messages before a close frame are handled first
            if isinstance(message, Frame):
                if message.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                    self._take_fragment(message)
            elif isinstance(message, bytes):
                self._deliver(message)
            else:
                self._take_text(message)
        if not still_open:
            with self._lock:
                self._eof_reason = self._protocol_failure()
                self._flush_locked()  # the answer to a close frame, or the failure's; the socket is shut after it

    def _split_frames_locked(self, data: bytes) -> tuple[list[Frame | bytes | bytearray], bool]:
        """The whole frames in `data`, in order: a whole text frame's payload as a bytearray, a whole binary
        frame's as bytes, and the protocol's frames for every frame it parsed; whether the protocol parsed any.
        The start of an incomplete frame waits for the next read (bounded: a frame over the size limit goes to
        the protocol at once, which fails the connection)."""
        messages: list[Frame | bytes | bytearray] = []
        by_protocol = False
        pos, end = 0, len(data)
        limit = self.limits.max_message_bytes
        protocol = self._protocol
        while pos < end:
            size = frame_size(data, pos)
            if size is None:
                self._partial_needed = end - pos + 1
                break
            header, length = size
            if length > limit:  # the protocol fails the connection (1009) from the header alone
                stop = end
            elif pos + header + length > end:
                self._partial_needed = header + length
                break
            else:
                stop = pos + header + length
            first = data[pos]
            masked_short = header == 6 or header == 8  # masked, with a 7- or 16-bit length
            whole_data = first == _FIN_TEXT or first == _FIN_BINARY  # FIN, no RSV bits, text or binary
            if masked_short and whole_data and protocol.current_size is None and protocol.state is State.OPEN:
                payload = apply_mask(data[pos + header : stop], data[pos + header - 4 : pos + header])
                messages.append(bytearray(payload) if first == _FIN_TEXT else payload)
            else:
                by_protocol = True
                protocol.receive_data(data[pos:stop])
                messages.extend(event for event in protocol.events_received() if isinstance(event, Frame))
            pos = stop
        if pos < end:
            self._partial += data[pos:]
        return messages, by_protocol

    def on_writable(self) -> None:
        with self._lock:
            self._flush_locked()

    def on_sweep(self, now: float) -> None:
        """Ping a silent client, drop an idle one or a slow consumer."""
        limits = self.limits
        silent = now - self._last_heard
        with self._lock:
            self._refill_locked(now)
            if self._out and now - self._last_progress >= limits.send_stall_s:
                self._abort_locked(f"slow consumer: no progress writing for {limits.send_stall_s:.0f} s")
            elif silent >= limits.idle_timeout_s:
                self._abort_locked(f"nothing heard for {limits.idle_timeout_s:.0f} s")
            elif silent >= limits.ping_every_s and now - self._last_ping >= limits.ping_every_s:
                self._last_ping = now
                if self._protocol.state is State.OPEN:
                    self._protocol.send_ping(b"")
                    self._flush_locked()

    # -- internals ---------------------------------------------------------------------------------

    def _handshake(self, environ: dict[str, Any]) -> None:
        """Answer the upgrade request the WSGI server has already read (the protocol parses it again)."""
        request = b"GET / HTTP/1.1\r\n"
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                header = "-".join(part.capitalize() for part in key[5:].split("_"))
                request += f"{header}: {value}\r\n".encode("latin-1")
        self._protocol.receive_data(request + b"\r\n")
        parsed = [event for event in self._protocol.events_received() if isinstance(event, Request)]
        if parsed:  # no extensions: permessage-deflate is never negotiated
            self._protocol.send_response(self._protocol.accept(parsed[0]))
        _write_all(self.sock, b"".join(self._protocol.data_to_send()), 10.0)
        if self._protocol.state is not State.OPEN:
            self._done.set()
            raise WebSocketClosed("not a WebSocket handshake")

    def _rewatch(self) -> None:
        """Tell the loop what to wait for on this socket (loop thread)."""
        if self.close_reason is not None:
            return
        with self._lock:
            write = bool(self._out)
            self._watching_write = write
            read = not self._reading_paused and not self._throttled
        self._loop.watch(self, self.sock, read, write)

    def _fail_a_flood_locked(self, now: float) -> None:
        """Fail the connection when its reads have kept overdrawing its budget for `flood_s`, never letting it fill
        up again meanwhile (a flood, not a burst: a burst's budget is full again within a few seconds)."""
        since, limits = self._overdrawn_since, self.limits
        if since is not None and now - since >= limits.flood_s and self._protocol.state is State.OPEN:
            self._protocol.fail(
                CloseCode.POLICY_VIOLATION,
                f"sends over {limits.messages_per_s:.0f} messages or {limits.bytes_per_s:.0f} bytes a second "
                f"for {limits.flood_s:.0f} s",
            )

    def _refill_locked(self, now: float) -> None:
        """Refill the read budget for the time since the last refill; stop reading while it is overdrawn, and read
        again once it is not (the sweep refills every connection's)."""
        limits = self.limits
        elapsed = now - self._tokens_at
        self._tokens_at = now
        self._message_tokens = min(limits.message_burst, self._message_tokens + elapsed * limits.messages_per_s)
        self._byte_tokens = min(limits.inbound_cap(), self._byte_tokens + elapsed * limits.bytes_per_s)
        if self._message_tokens >= limits.message_burst and self._byte_tokens >= limits.inbound_cap():
            self._overdrawn_since = None  # full again: whatever overdrew it was a burst
        overdrawn = self._message_tokens < 0 or self._byte_tokens < 0
        if overdrawn != self._throttled:
            if overdrawn and not self._throttled_before:
                self._throttled_before = True  # said once a connection: a flood toggles this every refill
                log.warning(
                    "relay: a client sends over %.0f messages or %.0f bytes a second; it is read at that pace",
                    limits.messages_per_s,
                    limits.bytes_per_s,
                )
            self._throttled = overdrawn
            self._loop.call_soon(self._rewatch)

    def _start_dispatch(self, handler: Handler) -> None:
        with self._lock:
            waiting, self._inbox = list(self._inbox), deque()
            self._inbox_bytes = 0
            self._handler = handler
            paused, self._reading_paused = self._reading_paused, False
        for message in waiting:
            self._deliver(message)
        if paused:
            self._rewatch()

    def _take_fragment(self, frame: Frame) -> None:
        if frame.opcode is not Opcode.CONT:
            self._fragments_text = frame.opcode is Opcode.TEXT
        if not frame.fin:
            self._fragments.append(bytes(frame.data))
            return
        data = b"".join([*self._fragments, frame.data]) if self._fragments else frame.data
        self._fragments = []
        if self._fragments_text:
            self._take_text(data)
        else:
            self._deliver(bytes(data))

    def _take_text(self, data: bytes | bytearray | memoryview) -> None:
        """A whole text message: delivered as a str, or the connection is failed (1007) when it is not UTF-8."""
        try:
            text = str(data, "utf-8")
        except UnicodeDecodeError:
            with self._lock:
                if self._protocol.state is State.OPEN:
                    self._protocol.fail(CloseCode.INVALID_DATA, "a text message that is not UTF-8")
                    self._eof_reason = "a text message that is not UTF-8"
                    self._flush_locked()
            return
        self._deliver(text)

    def _deliver(self, message: str | bytes) -> None:
        if self.close_reason is not None:
            return
        handler = self._handler
        if handler is not None:
            try:
                handler(message)
            except Exception as error:
                log.exception("relay: the handler failed on a message")
                self.abort(f"the host failed on a message: {error!r}")
            return
        with self._lock:
            self._inbox.append(message)
            self._inbox_bytes += len(message)
            self._changed.notify_all()
            full = len(self._inbox) >= self.limits.inbound_messages or self._inbox_bytes >= self.limits.inbound_cap()
            if full and not self._reading_paused:
                self._reading_paused = True
                self._loop.call_soon(self._rewatch)

    def _protocol_failure(self) -> str:
        """Why the protocol left the open state: the client's close frame, or what the host failed it for."""
        received = self._protocol.close_rcvd
        if received is not None:
            return f"closed by the client ({received.code})"
        sent = self._protocol.close_sent
        if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
            return f"a message over {self.limits.max_message_bytes} bytes"
        if sent is not None and sent.code == CloseCode.POLICY_VIOLATION:
            return sent.reason
        if self._protocol.parser_exc is not None:
            return f"protocol error: {self._protocol.parser_exc}"
        return "closed"

    def _flush_locked(self) -> None:
        """Write the protocol's output, keeping in the buffer what the socket does not take now."""
        self._write_locked(self._protocol.data_to_send())

    def _write_locked(self, chunks: Iterable[bytes], write_now: bool = False) -> None:
        """Write `chunks` (an empty one: shut the socket once everything before it is out), keeping in the
        buffer what the socket does not take now. On the loop's thread, while it handles a ready socket, they wait
        in the buffer until it is done (`SocketLoop.defers_writes`), and then leave together."""
        out = self._out
        deferred = self._loop.defers_writes()
        for chunk in chunks:
            if not chunk:  # the protocol's end of stream: shut the socket once everything before it is out
                self._eof = True
            elif out:
                out += chunk
            elif deferred:
                out += chunk
                self._last_progress = time.monotonic()
            else:  # nothing waits, so the frame is written straight from its bytes
                sent = self._write_now_locked(chunk)
                if sent is None:
                    return
                if sent < len(chunk):
                    out += chunk[sent:]
                    self._last_progress = time.monotonic()
        if out:
            # messages, or pongs to a flood of pings, for a client that never reads
            if len(out) > self.limits.outbound_cap():
                self._abort_locked("slow consumer: the send buffer is full")
                return
            if deferred:
                if not self._write_scheduled:
                    self._write_scheduled = True
                    self._loop.after_batch(self._write_deferred)
                return
            if self._watching_write or write_now:  # the socket may take it now: write what waits
                sent = self._write_now_locked(out)
                if sent is None:
                    return
                if sent:
                    del out[:sent]
                    self._last_progress = time.monotonic()
            if out:
                if not self._watching_write:
                    self._watching_write = True
                    self._loop.call_soon(self._rewatch)
                return
        if self._eof:
            if self.close_reason is None:
                self.close_reason = self._eof_reason
            self._shutdown_locked()
        elif self._watching_write:
            self._watching_write = False
            self._loop.call_soon(self._rewatch)

    def _write_deferred(self) -> None:
        """Write what the loop's handling of a ready socket left in the buffer (loop thread, once it is done)."""
        with self._lock:
            self._write_scheduled = False
            if self.close_reason is None:
                self._write_locked((), write_now=True)

    def _write_now_locked(self, data: bytes | bytearray) -> int | None:
        """What the socket takes of `data` without waiting; None when the connection is gone (aborted)."""
        try:
            return self.sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return 0
        except OSError as error:
            self._abort_locked(f"gone: {error}")
            return None

    def _abort_locked(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self._out.clear()
        self._eof = True
        self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._changed.notify_all()
        self._loop.call_soon(self._detach)

    def _detach(self) -> None:
        self._loop.forget(self)
        self._done.set()


def _write_all(sock: socket.socket, data: bytes, timeout_s: float) -> None:
    """Write everything, within `timeout_s` (the handshake's answer, before the loop owns the socket)."""
    deadline = time.monotonic() + timeout_s
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view, socket.MSG_DONTWAIT)
        except BlockingIOError:
            poller = select.poll()
            poller.register(sock, select.POLLOUT)
            if not poller.poll(max(0, int((deadline - time.monotonic()) * 1000))):
                raise TimeoutError(f"the handshake's answer took over {timeout_s:.0f} s to write") from None
            continue
        view = view[sent:]


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
