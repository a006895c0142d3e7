"""Throwaway PostgreSQL and Redis servers on loopback, for tests and benchmarks: real servers from Debian's
packages, started as unprivileged processes in a temporary folder on a free port, stopped on exit."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gymcast.testing import free_port

UNPRIVILEGED_USER = "postgres"  # Debian's postgresql package creates it; PostgreSQL refuses to run as root


class ServerError(RuntimeError):
    """A test server could not start; the message says what is missing and how to install it."""


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise ServerError(
            f"PostgreSQL's {name} is not installed; run `apt-get install -y postgresql` (scripts/setup.sh --tests does)"
        )
    return found


def _as_unprivileged(argv: list[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED_USER, "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def postgres_server(database: str = "gymcast") -> Iterator[str]:
    """A PostgreSQL server for the block; yields its URL `postgresql://USER@127.0.0.1:PORT/DATABASE`."""
    folder = Path(tempfile.mkdtemp(prefix="gymcast-pg-"))
    user = UNPRIVILEGED_USER if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    if os.geteuid() == 0:
        shutil.chown(folder, UNPRIVILEGED_USER)
    data, sockets, port = folder / "data", folder / "sockets", free_port()
    run = lambda argv: subprocess.run(_as_unprivileged(argv), capture_output=True, text=True)  # noqa: E731
    result = run([_postgres_bin("initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"])
    if result.returncode != 0:
        raise ServerError(f"initdb failed: {result.stderr[-2000:]}")
    run(["mkdir", "-p", str(sockets)])
    server = subprocess.Popen(
        _as_unprivileged(
            [
                _postgres_bin("postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(sockets),
                "-h",
                "127.0.0.1",
                "-c",
                "fsync=on",
                "-c",
                "max_connections=300",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(
            lambda: run([_postgres_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)]).returncode == 0,
            server,
            "PostgreSQL",
        )
        result = run([_postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database])
        if result.returncode != 0:
            raise ServerError(f"createdb failed: {result.stderr[-2000:]}")
        yield f"postgresql://{user}@127.0.0.1:{port}/{database}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis_server(port: int | None = None) -> Iterator[str]:
    """A Redis server for the block (no persistence), on `port` or a free one; yields its URL
    `redis://127.0.0.1:PORT/0`."""
    binary = shutil.which("redis-server")
    if not binary:
        raise ServerError(
            "redis-server is not installed; run `apt-get install -y redis-server` (scripts/setup.sh --tests does)"
        )
    port = port or free_port()
    server = subprocess.Popen(
        [binary, "--save", "", "--appendonly", "no", "--port", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import socket

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    return connection.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        _wait_for(answers, server, "Redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(ready, process: subprocess.Popen, name: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None:
            raise ServerError(f"{name} exited at start: {(process.stderr.read() if process.stderr else '')[-2000:]}")
        if time.monotonic() > deadline:
            raise ServerError(f"{name} did not answer within {timeout_s} s")
        time.sleep(0.1)
