"""Relay load: N simulated two-player groups on loopback send one action per step at the game's frame rate.

Run: .venv/bin/python bench/relay_load.py [--groups 10 100 500] [--seconds 10] [--fps 30]
         [--servers gunicorn development redis:2]
`redis:N` runs gunicorn with N workers whose relay shares its state through a throwaway redis-server
(`--redis`); the players connect to the one port, so gunicorn spreads them over the workers and most
groups play across processes. Prints, per N: relay latency (sender to partner, p50/p99, ms), messages
relayed per second, and the host's CPU (seconds per participant-minute, and % of one core; with Redis,
redis-server's CPU is included). Rates and CPU cover only the measured
load phase (from the moment every player is matched until every player is done), not session creation,
connecting or matching. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import websockets

from gymcast import Experiment, Human
from gymcast.contracts import RELAY_SCHEMA
from gymcast.servers import redis_server
from gymcast.testing import HostProcess, cpu_seconds, create_session, manifest_only_bundle, percentile


def relay_bundle(folder: Path, fps: int) -> Path:
    """A bundle folder holding only the manifest: the relay needs nothing else."""
    experiment = (
        Experiment("relay_load")
        .environment(env_id="CartPole-v1")
        .players({"left": Human(keys={"a": 0}), "right": Human(keys={"b": 1})})
        .rendering(fps=fps)
        .multiplayer(wait_timeout_s=600, input_delay=2)
    )
    return manifest_only_bundle(folder, experiment)


async def player(
    url: str,
    session: tuple[str, str],
    fps: int,
    seconds: float,
    sent: dict,
    latencies: list,
    matched: asyncio.Event,
    everyone_matched: asyncio.Event,
    joining: asyncio.Semaphore,
    drops: list[str],
) -> None:
    async with joining:  # connect in waves: a burst of 1000 connects overflows the server's listen backlog
        ws = await websockets.connect(url.replace("http://", "ws://") + "/api/v1/relay", max_size=None, open_timeout=60)
        await ws.send(
            json.dumps(
                {"type": "join", "schema": RELAY_SCHEMA, "session_id": session[0], "token": session[1], "game": "main"}
            )
        )
    async with ws:
        seat = None
        try:
            while seat is None:
                message = json.loads(await ws.recv())
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong", "t": message["t"]}))
                elif message["type"] == "matched":
                    seat = message["seat"]
        finally:
            matched.set()  # a failure must not leave the others waiting forever; gather() re-raises it
        await everyone_matched.wait()

        async def receive() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):  # the sender's loop reports it
                async for text in ws:
                    message = json.loads(text)
                    if message["type"] == "action":
                        latencies.append((time.perf_counter() - sent[(message["agent"], message["step"])]) * 1000)

        reader = asyncio.create_task(receive())
        period, start = 1 / fps, time.perf_counter()
        try:
            for step in range(1, int(seconds * fps) + 1):
                await asyncio.sleep(max(0.0, start + step * period - time.perf_counter()))
                sent[(seat, step)] = time.perf_counter()
                await ws.send(json.dumps({"type": "action", "episode": 0, "step": step, "agent": seat, "action": 0}))
            await asyncio.sleep(0.5)
        except websockets.ConnectionClosed as closed:  # the host dropped this player: counted, not fatal
            drops.append(closed.rcvd.reason if closed.rcvd else "no close frame")
        finally:
            reader.cancel()


async def run_load(url: str, groups: int, fps: int, seconds: float, host_pid: int) -> dict:
    """Set up the groups, then play; returns the latencies and the load phase's measured wall and host CPU seconds."""
    sessions = [create_session(url, "relay_load") for _ in range(2 * groups)]
    sent: dict = {}
    latencies: list[float] = []
    flags = [asyncio.Event() for _ in sessions]
    everyone = asyncio.Event()
    joining = asyncio.Semaphore(50)
    drops: list[str] = []
    tasks = [
        asyncio.create_task(player(url, session, fps, seconds, sent, latencies, flag, everyone, joining, drops))
        for session, flag in zip(sessions, flags)
    ]
    await asyncio.gather(*(flag.wait() for flag in flags))
    cpu_before, started = cpu_seconds(host_pid), time.perf_counter()
    everyone.set()
    await asyncio.gather(*tasks)
    wall, cpu = time.perf_counter() - started, cpu_seconds(host_pid) - cpu_before
    return {"latencies": latencies, "wall": wall, "cpu": cpu, "drops": drops}


def redis_cpu(url: str | None) -> float:
    """CPU seconds redis-server has used so far (0 without Redis)."""
    if url is None:
        return 0.0
    import redis

    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--servers", nargs="+", default=["gunicorn", "development"], help="measured side by side")
    parser.add_argument("--limit-s", type=float, default=240, help="a run that takes longer is reported as unfinished")
    args = parser.parse_args()
    print(
        f"relay load: two players per group, {args.fps} actions/s each, {args.seconds:.0f} s, loopback, "
        f"`gymcast serve`; {os.cpu_count()} CPU cores; client CPU is this process's"
    )
    print(
        f"{'server':>12} {'groups':>7} {'players':>8} {'relayed/s':>10} {'relayed %':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'host CPU %':>11} {'CPU s per participant-min':>26} {'client CPU s':>13} {'dropped':>8}"
    )
    for server, groups in [(server, groups) for server in args.servers for groups in args.groups]:
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            bundle = relay_bundle(Path(tmp) / "bundle", args.fps)
            # Every simulated player comes from loopback: the per-address limits would refuse most of them.
            extra = ["--no-rate-limits", "--no-access-log", "--threads", str(2 * groups + 64)]
            kind, _, workers = server.partition(":")
            redis_url = None
            if kind == "redis":
                redis_url = stack.enter_context(redis_server())
                extra += ["--server", "gunicorn", "--workers", workers or "2", "--redis", redis_url]
            else:
                extra += ["--server", kind]
            with HostProcess(bundle, Path(tmp) / "logs.sqlite", extra_args=tuple(extra)) as host:
                client_before, redis_before = time.process_time(), redis_cpu(redis_url)
                try:
                    result = asyncio.run(
                        asyncio.wait_for(
                            run_load(host.url, groups, args.fps, args.seconds, host.process.pid), args.limit_s
                        )
                    )
                except TimeoutError:
                    print(
                        f"{server:>12} {groups:>7} {2 * groups:>8}  did not finish within {args.limit_s:.0f} s",
                        flush=True,
                    )
                    continue
                client_cpu = time.process_time() - client_before
                result["cpu"] += redis_cpu(redis_url) - redis_before
        latencies, cpu, wall = result["latencies"], result["cpu"], result["wall"]
        players = 2 * groups
        per_participant_minute = cpu / (players * wall / 60)
        expected = players * int(args.seconds * args.fps)
        print(
            f"{server:>12} {groups:>7} {players:>8} {len(latencies) / wall:>10.0f} "
            f"{100 * len(latencies) / expected:>10.1f} {percentile(latencies, 0.5):>8.2f} "
            f"{percentile(latencies, 0.99):>8.2f} {100 * cpu / wall:>11.1f} {per_participant_minute:>26.3f} "
            f"{client_cpu:>13.1f} {len(result['drops']):>8}" + (f"  ({result['drops'][0]})" if result["drops"] else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
