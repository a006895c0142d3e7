"""Log API load: N simulated participants each send a batch of step events every interval, as the browser's
outbox does at 30 steps/s, over keep-alive HTTP/1.1 connections on loopback. The intervals compared are the
outbox's (`gymcast.contracts.LOG_FLUSH_MS`) and the 0.5 s it used before, measured in the same run.

Run: .venv/bin/python bench/log_load.py [--participants 100 500 1000] [--seconds 20]
         [--servers gunicorn development] [--storages sqlite postgresql] [--workers 1 2] [--intervals 0.5 5]
Prints, per server, storage and N: batches acknowledged per second, latency p50/p99 (ms), failed requests,
host CPU-seconds per participant-minute (the server's whole process tree) and the load client's own CPU
(it runs in this process, the host in another, sharing the machine's cores). Nothing is asserted; every
acknowledged event is checked to be stored once at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from gymcast.contracts import LOG_FLUSH_MS
from gymcast.testing import HostProcess, cpu_seconds, create_session, manifest_only_bundle, percentile

STEPS_PER_S = 30  # one step event each
BEFORE_S = 0.5
"""The outbox's interval before `LOG_FLUSH_MS`: the baseline each run measures too."""


def bundle(folder: Path) -> Path:
    from gymcast import Experiment, Human

    return manifest_only_bundle(
        folder, Experiment("log_load").environment(env_id="CartPole-v1").players({"player": Human(keys={"a": 0})})
    )


class Connection:
    """One participant's keep-alive HTTP/1.1 connection (reopened when the server closes it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, token: str) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length, close = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        await reader.readexactly(length)
        if close:
            writer.close()
            self.streams = None
        return status


async def participant(port: int, session: tuple[str, str], seconds: float, interval_s: float, stats: dict) -> None:
    session_id, token = session
    connection, seq, start = Connection(port), 0, time.perf_counter()
    path = f"/api/v1/sessions/{session_id}/events"
    per_batch = round(STEPS_PER_S * interval_s)
    await asyncio.sleep(interval_s * (hash(session_id) % 1000) / 1000)  # spread the batches over the interval
    while time.perf_counter() - start < seconds:
        events = [
            {"seq": seq + i, "type": "step", "t": time.time() * 1000, "episode": 0, "step": seq + i,
             "actions": {"player": 0}, "rewards": {"player": 1.0}, "hash": "0123456789abcdef"}
            for i in range(1, per_batch + 1)
        ]  # fmt: skip
        body = json.dumps({"schema": 1, "events": events}).encode()
        sent = time.perf_counter()
        try:
            status = await connection.post(path, body, token)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            status, connection.streams = 0, None
        if status == 200:
            stats["latencies"].append((time.perf_counter() - sent) * 1000)
            seq += per_batch
            stats["acked"][session_id] = seq
        else:
            stats["failed"] += 1
        await asyncio.sleep(max(0.0, interval_s - (time.perf_counter() - sent)))


async def run_load(host: HostProcess, participants: int, seconds: float, interval_s: float) -> dict:
    loop = asyncio.get_running_loop()
    sessions = await asyncio.gather(
        *(loop.run_in_executor(None, create_session, host.url, "log_load") for _ in range(participants))
    )
    stats: dict = {"latencies": [], "failed": 0, "acked": {}}
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    host_before, started = cpu_seconds(host.process.pid), time.perf_counter()
    await asyncio.gather(*(participant(host.port, session, seconds, interval_s, stats) for session in sessions))
    wall, host_cpu = time.perf_counter() - started, cpu_seconds(host.process.pid) - host_before
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    stats["client_cpu"] = (client_after.ru_utime - client_before.ru_utime) + (
        client_after.ru_stime - client_before.ru_stime
    )
    stats.update(wall=wall, host_cpu=host_cpu)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--servers", nargs="+", default=["gunicorn", "development"])
    parser.add_argument("--storages", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--intervals", type=float, nargs="+", default=[BEFORE_S, LOG_FLUSH_MS / 1000])
    args = parser.parse_args()
    print(f"log API load: {STEPS_PER_S} step events per s per participant, sent every interval; "
          f"{args.seconds:.0f} s, loopback; {os.cpu_count()} CPU cores")  # fmt: skip
    print("| server | workers | storage | participants | interval s | batches/s | p50 ms | p99 ms | failed | "
          "host CPU-s per participant-min | client CPU % |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with contextlib.ExitStack() as stack:
        postgres = None
        if "postgresql" in args.storages:
            from gymcast.servers import postgres_server

            postgres = stack.enter_context(postgres_server())
        for server in args.servers:
            for workers in args.workers if server == "gunicorn" else [1]:
                for storage in args.storages:
                    for participants in args.participants:
                        for interval_s in args.intervals:
                            measure(server, workers, storage, participants, args.seconds, interval_s, postgres)


def measure(
    server: str, workers: int, storage: str, participants: int, seconds: float, interval_s: float, postgres: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data: str | Path = Path(tmp) / "logs.sqlite"
        if storage == "postgresql":
            import uuid

            import psycopg

            assert postgres is not None
            name = "b" + uuid.uuid4().hex[:12]
            with psycopg.connect(postgres, autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {name}")
            data = postgres.rsplit("/", 1)[0] + "/" + name
        extra = ("--no-rate-limits", "--no-access-log", "--server", server, "--workers", str(workers))
        with HostProcess(bundle(Path(tmp) / "bundle"), data, extra_args=extra) as host:  # type: ignore[arg-type]
            try:
                stats = asyncio.run(asyncio.wait_for(run_load(host, participants, seconds, interval_s), seconds + 120))
            except TimeoutError:
                print(f"| {server} | {workers} | {storage} | {participants} | {interval_s:g} | did not finish within "
                      f"{seconds + 120:.0f} s | | | | | |", flush=True)  # fmt: skip
                return
            from gymcast.storage import open_store

            store = open_store(data)
            stored = {sid: store.next_seq(sid) - 1 for sid in stats["acked"]}
            lost = sum(1 for sid, seq in stats["acked"].items() if stored[sid] < seq)
        wall, latencies = stats["wall"], stats["latencies"]
        per_minute = stats["host_cpu"] / (participants * wall / 60)
        print(
            f"| {server} | {workers} | {storage} | {participants} | {interval_s:g} | {len(latencies) / wall:.0f} | "
            f"{percentile(latencies, 0.5):.1f} | {percentile(latencies, 0.99):.1f} | {stats['failed']} | "
            f"{per_minute:.3f} | {100 * stats['client_cpu'] / wall:.0f} |" + (f" LOST {lost}" if lost else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
