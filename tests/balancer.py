"""A tiny TCP load balancer for tests, standing in for nginx, HAProxy or a cloud load balancer in front of
several `gymcast serve` processes.

Each new connection goes to the next backend in turn that accepts it (a backend that refuses, because it
died, is skipped: a passive health check). WebSocket upgrades to the relay are balanced in their own
rotation, so that consecutive players land on different backends; `relay_routes` records, in order, the
backend index each relay connection went to.
"""

from __future__ import annotations

import itertools
import socket
import threading

from gymcast.testing import free_port

RELAY_REQUEST = b"GET /api/v1/relay"


class Balancer:
    """Listens on a free loopback port (`url`) and forwards each connection to one of `backends` (ports)."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.relay_routes: list[int] = []
        self._turns = {True: itertools.count(), False: itertools.count()}
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._route, args=(client,), daemon=True).start()

    def _route(self, client: socket.socket) -> None:
        client.settimeout(10)
        try:
            head = client.recv(65536)
        except OSError:
            client.close()
            return
        relay = head.startswith(RELAY_REQUEST)
        with self._lock:
            first = next(self._turns[relay])
        for offset in range(len(self.backends)):
            index = (first + offset) % len(self.backends)
            try:
                backend = socket.create_connection(("127.0.0.1", self.backends[index]), timeout=2)
            except OSError:
                continue  # down: the next one
            if relay:
                with self._lock:
                    self.relay_routes.append(index)
            client.settimeout(None)
            backend.settimeout(None)
            backend.sendall(head)
            threading.Thread(target=_pump, args=(backend, client), daemon=True).start()
            _pump(client, backend)
            return
        client.close()

    def close(self) -> None:
        self._listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes from `source` to `sink` until either side closes; then close both."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
