"""One thread per host process that reads and writes every relay WebSocket (an epoll loop).

A relayed action used to cost three thread hand-offs (reader, handler, writer threads per connection,
about 145 µs of the 180 µs an action cost). Here the loop reads a frame, runs the relay's rules and
writes the partner's frame on one thread, with no hand-off. Other threads (a request thread during the
join, the relay's timer, the Redis switchboard) only write without blocking and ask the loop for
anything that touches the selector, through `call_soon`.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

SWEEP_EVERY_S = 0.5
"""How often the loop checks every connection's clocks (pings, idle and stalled connections)."""

log = logging.getLogger("gymcast.relay")


class LoopConnection(Protocol):
    """What the loop drives: readiness callbacks and a periodic check of the connection's clocks."""

    def on_readable(self) -> None: ...

    def on_writable(self) -> None: ...

    def on_sweep(self, now: float) -> None: ...

    def abort(self, reason: str) -> None: ...


class SocketLoop:
    """Watches sockets for its connections and calls them back on its own thread."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._calls: deque[Callable[[], None]] = deque()
        self._calls_lock = threading.Lock()
        self._watched: dict[LoopConnection, socket.socket] = {}  # every connection the loop sweeps
        self._registered: set[LoopConnection] = set()  # those whose socket the selector watches now
        self._batching = False  # handling one ready socket: writes wait until it is done (`defers_writes`)
        self._after_batch: deque[Callable[[], None]] = deque()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="gymcast-relay-loop", daemon=True)
        self._thread.start()

    def in_loop(self) -> bool:
        """Whether the caller is the loop's own thread."""
        return threading.current_thread() is self._thread

    def defers_writes(self) -> bool:
        """Whether a write made now should wait until the loop is done with the ready socket it handles (the caller
        is the loop's thread, handling it). Then the messages one read brings a connection (a busy client's
        frames pile up between the loop's visits) leave in one `send`, instead of one kernel call each."""
        return self._batching and threading.get_ident() == self._thread.ident

    def after_batch(self, call: Callable[[], None]) -> None:
        """Run `call` once the loop is done with the ready socket it handles (loop thread, while `defers_writes`)."""
        self._after_batch.append(call)

    def call_soon(self, call: Callable[[], None]) -> None:
        """Run `call` on the loop's thread (at once, on the caller's, once the loop has stopped)."""
        with self._calls_lock:
            if not self._stopped:
                self._calls.append(call)
                if not self.in_loop():
                    try:
                        self._wake_writer.send(b"\0")
                    except BlockingIOError:  # the wake-up pipe is full: the loop is awake anyway
                        pass
                return
        call()

    def watch(self, connection: LoopConnection, sock: socket.socket, read: bool, write: bool) -> None:
        """Call `connection` back when `sock` is readable (with `read`) or writable (with `write`), and sweep it
        until it is forgotten, whether or not it waits for anything now. Loop thread only."""
        events = (selectors.EVENT_READ if read else 0) | (selectors.EVENT_WRITE if write else 0)
        if self._stopped:  # a connection that arrived as the loop stopped: nothing will serve it
            connection.abort("this host process stopped its relay")
            return
        self._watched[connection] = sock
        if not events:
            self._unregister(connection, sock)
        elif connection in self._registered:
            self._selector.modify(sock, events, connection)
        else:
            self._selector.register(sock, events, connection)
            self._registered.add(connection)

    def forget(self, connection: LoopConnection) -> None:
        """Stop watching and sweeping `connection`. Loop thread only (or after `stop`)."""
        sock = self._watched.pop(connection, None)
        if sock is not None:
            self._unregister(connection, sock)

    def _unregister(self, connection: LoopConnection, sock: socket.socket) -> None:
        if connection in self._registered:
            self._registered.discard(connection)
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError, OSError):  # already closed by its server
                pass

    def stop(self) -> None:
        """Stop the thread, drop every connection still watched, and close the selector and the wake-up sockets
        (tests that start many hosts in one process)."""
        with self._calls_lock:
            self._stopped = True
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass
        if not self.in_loop():
            self._thread.join(5)
        for connection in list(self._watched):
            connection.abort("this host process stopped its relay")
        while self._calls:
            self._calls.popleft()()
        if not self._thread.is_alive():  # a loop thread stuck past the join keeps its selector
            self._selector.close()
            self._wake_reader.close()
            self._wake_writer.close()

    def _run(self) -> None:
        next_sweep = time.monotonic() + SWEEP_EVERY_S
        while not self._stopped:
            for key, mask in self._selector.select(max(0.0, next_sweep - time.monotonic())):
                connection = key.data
                if connection is None:
                    self._drain_wake_ups()
                    continue
                self._batching = True
                try:
                    if mask & selectors.EVENT_WRITE:
                        connection.on_writable()
                    if mask & selectors.EVENT_READ:
                        connection.on_readable()
                except Exception as error:  # one connection's failure must not stop everyone's relay
                    log.exception("relay: a connection failed")
                    connection.abort(f"the host failed on this connection: {error!r}")
                self._batching = False
                if self._after_batch:
                    self._run_calls(self._after_batch)
            self._run_calls(self._calls)
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + SWEEP_EVERY_S
                for connection in list(self._watched):
                    connection.on_sweep(now)

    @staticmethod
    def _run_calls(calls: deque[Callable[[], None]]) -> None:
        """Run and remove every call in `calls`, in order, including those added meanwhile."""
        while calls:
            call = calls.popleft()
            try:
                call()
            except Exception:
                log.exception("relay: a call on the socket loop failed")

    def _drain_wake_ups(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass
