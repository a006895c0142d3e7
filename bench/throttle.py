"""A throttling TCP proxy: one shared link, as a participant's connection is.

Every connection through the proxy shares one downstream and one upstream link of `mbit` Mbit/s,
and each chunk arrives `rtt_ms / 2` after the link finished sending it. Put it in front of a host
and load the page through it: the page's, its workers' and its service worker's requests all
share the link (CDP's per-target emulation misses the service worker's own fetches).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

CHUNK = 16 * 1024


@dataclass
class Link:
    """One direction of the shared link: when it is free again, and how many bytes it carried."""

    bytes_per_s: float | None
    one_way_s: float
    free_at: float = 0.0
    carried: int = 0

    def arrival(self, size: int) -> float:
        """When a chunk of `size` bytes handed to the link now arrives at the other end."""
        now = time.monotonic()
        self.carried += size
        if self.bytes_per_s is None:
            return now + self.one_way_s
        self.free_at = max(now, self.free_at) + size / self.bytes_per_s
        return self.free_at + self.one_way_s


@dataclass
class ThrottlingProxy:
    """Forwards 127.0.0.1:`port` to `upstream_port` through a shared link; a context manager.

    `mbit=None` and `rtt_ms=0` forward unthrottled (the bytes are still counted)."""

    upstream_port: int
    mbit: float | None = None
    rtt_ms: float = 0
    port: int = 0
    down: Link = field(init=False)
    up: Link = field(init=False)

    def __post_init__(self) -> None:
        rate = None if self.mbit is None else self.mbit * 125_000
        self.down = Link(rate, self.rtt_ms / 2000)
        self.up = Link(rate, self.rtt_ms / 2000)
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
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connect, "127.0.0.1", self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    async def _connect(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(self.rtt_ms / 1000)  # the TCP handshake: one round trip before the first request
            host_reader, host_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except (OSError, asyncio.CancelledError):
            client_writer.close()
            return
        try:
            await asyncio.gather(
                self._pump(client_reader, host_writer, self.up), self._pump(host_reader, client_writer, self.down)
            )
        except asyncio.CancelledError:  # the proxy is shutting down
            client_writer.close()
            host_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
        """Copy `reader` to `writer`, each chunk delivered when the link would deliver it, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                arrival, chunk = await queue.get()
                delay = arrival - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()

        delivering = asyncio.ensure_future(deliver())
        try:
            while chunk := await reader.read(CHUNK):
                queue.put_nowait((link.arrival(len(chunk)), chunk))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((time.monotonic() + link.one_way_s, b""))
        try:
            await delivering
            writer.close()
        except (ConnectionError, OSError):
            pass
