"""A throttling TCP proxy: one shared link, as a participant's connection is.

Every connection through the proxy shares one downstream and one upstream link of `mbit` Mbit/s.
The link sends one chunk at a time, taking the connections with data waiting in turn (as TCP flows
share a bottleneck fairly, so a small response is not stuck behind a large one), and each chunk
arrives `rtt_ms / 2` after the link sent it; a new connection first costs a round trip (the TCP
handshake). Put it in front of a host and load the page through it: the page's, its workers' and
its service worker's requests all share the link (CDP's per-target emulation misses the service
worker's own fetches).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

CHUNK = 16 * 1024


class Link:
    """One direction of the shared link: round-robin over the connections with data waiting."""

    def __init__(self, bytes_per_s: float | None, one_way_s: float) -> None:
        self.bytes_per_s, self.one_way_s = bytes_per_s, one_way_s
        self.carried = 0
        self._waiting: deque[tuple[asyncio.StreamWriter, deque[bytes]]] = deque()
        self._queues: dict[asyncio.StreamWriter, deque[bytes]] = {}
        self._wake = asyncio.Event()

    def send(self, writer: asyncio.StreamWriter, chunk: bytes) -> None:
        """Queue `chunk` for `writer`'s end; an empty chunk closes it once everything before has arrived."""
        queue = self._queues.get(writer)
        if queue is None:
            queue = self._queues[writer] = deque()
            self._waiting.append((writer, queue))
        queue.append(chunk)
        self._wake.set()

    async def run(self) -> None:
        """Send the waiting chunks, one connection's chunk at a time, at the link's rate."""
        loop = asyncio.get_running_loop()
        free_at = loop.time()
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            writer, queue = self._waiting.popleft()
            chunk = queue.popleft()
            if queue:
                self._waiting.append((writer, queue))  # its next chunk after the other connections' turns
            else:
                del self._queues[writer]
            self.carried += len(chunk)
            if self.bytes_per_s is not None and chunk:  # the link is busy sending it (a timer's lateness is made up)
                free_at = max(loop.time(), free_at) + len(chunk) / self.bytes_per_s
                await asyncio.sleep(free_at - loop.time())
            loop.call_later(self.one_way_s, _deliver, writer, chunk)


def _deliver(writer: asyncio.StreamWriter, chunk: bytes) -> None:
    if writer.is_closing():
        return
    if chunk:
        writer.write(chunk)
    else:
        writer.close()


class ThrottlingProxy:
    """Forwards 127.0.0.1:`port` to `upstream_port` through a shared link; a context manager.

    `mbit=None` and `rtt_ms=0` forward unthrottled (the bytes are still counted)."""

    def __init__(self, upstream_port: int, mbit: float | None = None, rtt_ms: float = 0, port: int = 0) -> None:
        self.upstream_port, self.rtt_ms, self.port = upstream_port, rtt_ms, port
        self._rate = None if mbit is None else mbit * 125_000
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.down = Link(self._rate, self.rtt_ms / 2000)
        self.up = Link(self._rate, self.rtt_ms / 2000)
        self._links = [self._loop.create_task(self.down.run()), self._loop.create_task(self.up.run())]
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connect, "127.0.0.1", self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    async def _connect(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(self.rtt_ms / 1000)  # the TCP handshake: one round trip before the first request
            host_reader, host_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            await asyncio.gather(
                _pump(client_reader, host_writer, self.up), _pump(host_reader, client_writer, self.down)
            )
        except (OSError, asyncio.CancelledError):  # the upstream refused, or the proxy is shutting down
            client_writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
    """Hand what `reader` gives to `link` for `writer`, then its end."""
    try:
        while chunk := await reader.read(CHUNK):
            link.send(writer, chunk)
    except (ConnectionError, OSError):
        pass
    link.send(writer, b"")
