"""A scripted relay participant for tests and benchmarks: a real websocket, answering pings like a browser."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from gymcast.contracts import RELAY_SCHEMA
from gymcast.testing import create_session

__all__ = ["RelayClient", "create_session"]


class RelayClient:
    """Joins the relay as a session; answers pings at once (a reader thread), and `expect(type)`
    returns the next message of that type.

    `seen` holds every message received so far, in order, whether or not `expect` took it. A reader
    failure (a message that is not JSON, or has no type) is raised by the next `expect`; a closed
    connection makes `expect` fail at once instead of waiting for its timeout.
    """

    def __init__(
        self, base_url: str, session: tuple[str, str], game: str = "main", visible: bool = True, join: bool = True
    ):
        self.session_id, self.token = session
        self.ws = connect(base_url.replace("http://", "ws://") + "/api/v1/relay", max_size=None, legacy=True)
        self.seen: list[dict[str, Any]] = []
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.failure: BaseException | None = None
        self.closed: ConnectionClosed | None = None
        threading.Thread(target=self._read, daemon=True).start()
        if join:
            self.send(
                type="join",
                schema=RELAY_SCHEMA,
                session_id=self.session_id,
                token=self.token,
                game=game,
                visible=visible,
            )

    def send(self, **message: Any) -> None:
        self.ws.send(json.dumps(message))

    def expect(self, kind: str, timeout_s: float = 10) -> dict[str, Any]:
        """The next message of type `kind` (skipping others)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {kind!r} message within {timeout_s} s; saw {[m['type'] for m in self.seen[-20:]]}"
                )
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                continue
            if message is None:
                self.inbox.put(None)  # stays closed for later calls
                if self.failure is not None:
                    raise AssertionError(f"the relay client's reader failed: {self.failure!r}") from self.failure
                raise AssertionError(
                    f"no {kind!r} message: the connection closed ({self.closed}); "
                    f"saw {[m['type'] for m in self.seen[-20:]]}"
                )
            if message["type"] == kind:
                return message

    def _read(self) -> None:
        try:
            for text in self.ws:
                message = json.loads(text)
                self.seen.append(message)
                if message["type"] == "ping":
                    self.send(type="pong", t=message["t"])
                self.inbox.put(message)
        except ConnectionClosed as closed:
            self.closed = closed
        except BaseException as error:  # a protocol bug: surfaced by `expect`
            self.failure = error
        finally:
            self.inbox.put(None)

    def close(self) -> None:
        self.ws.close()
