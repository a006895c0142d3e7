"""Relay load: N simulated two-player groups on loopback send one action per step at the game's frame rate.

Run: .venv/bin/python bench/relay_load.py [--groups 10 100 500] [--seconds 10] [--fps 30]
         [--servers gunicorn development redis:2]
`redis:N` runs gunicorn with N workers whose relay shares its state through a throwaway redis-server
(`--redis`); the players connect to the one port, so gunicorn spreads them over the workers and most
groups play across processes. Prints, per N: relay latency (sender to partner, p50/p99, ms), messages
relayed per second, and the host's CPU (seconds per participant-minute, and % of one core; with Redis,
redis-server's CPU is included) and the load client's (% of one core), and the busiest host thread's (the
relay's socket loop) time on a CPU and time runnable but waiting for one (% of the load phase): a loop on a CPU
nearly all the time that seldom waits is limited by its own work. Rates and CPU cover only the measured
load phase (from the moment every player is matched until every player is done), not session creation,
connecting, matching or framing the players' actions. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

from gymcast import Experiment, Human
from gymcast.servers import redis_server
from gymcast.testing import (
    HostProcess,
    busiest_thread,
    cpu_seconds,
    create_session,
    manifest_only_bundle,
    percentile,
    thread_schedules,
)
from relay_players import Players


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


def run_load(url: str, groups: int, fps: int, seconds: float, host_pid: int, limit_s: float) -> dict:
    """Set up the groups, then play; returns the latencies and the load phase's wall, host CPU and client CPU seconds."""
    players = Players(url, [create_session(url, "relay_load") for _ in range(2 * groups)])
    try:
        players.match(limit_s)
        players.prepare(fps, seconds)
        threads_before = thread_schedules(host_pid)
        cpu_before, client_before, started = cpu_seconds(host_pid), time.process_time(), time.perf_counter()
        players.play(fps)
        wall, cpu = time.perf_counter() - started, cpu_seconds(host_pid) - cpu_before
        client_cpu = time.process_time() - client_before
        loop_on_cpu, loop_waited = busiest_thread(threads_before, thread_schedules(host_pid))
        return {
            "latencies": players.latencies,
            "wall": wall,
            "cpu": cpu,
            "client_cpu": client_cpu,
            "loop_on_cpu": loop_on_cpu,
            "loop_waited": loop_waited,
            "drops": players.dropped(),
        }
    finally:
        players.close()


def python_speed_ms() -> float:
    """CPU milliseconds for a fixed pure-Python workload: this machine's speed drifts by a third over hours, so
    runs at different times compare only when these agree (compare old and new code within one run)."""
    started = time.process_time()
    table: dict[int, int] = {}
    for i in range(500_000):
        table[i & 1023] = table.get(i & 1023, 0) + i
    return (time.process_time() - started) * 1000


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
    parser.add_argument(
        "--limit-s", type=float, default=240, help="players not all matched by then: the run is reported as unfinished"
    )
    args = parser.parse_args()
    print(
        f"relay load: two players per group, {args.fps} actions/s each, {args.seconds:.0f} s, loopback, "
        f"`gymcast serve`; {os.cpu_count()} CPU cores; client CPU is this process's, in the load phase; "
        f"machine speed: a fixed Python workload took {python_speed_ms():.0f} ms"
    )
    print(
        f"{'server':>12} {'groups':>7} {'players':>8} {'relayed/s':>10} {'relayed %':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'host CPU %':>11} {'CPU s per participant-min':>26} {'client CPU %':>13} {'loop on CPU %':>14} "
        f"{'loop waits %':>13} {'dropped':>8}"
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
                redis_before = redis_cpu(redis_url)
                try:
                    result = run_load(host.url, groups, args.fps, args.seconds, host.process.pid, args.limit_s)
                except TimeoutError:
                    print(
                        f"{server:>12} {groups:>7} {2 * groups:>8}  not all matched within {args.limit_s:.0f} s",
                        flush=True,
                    )
                    continue
                result["cpu"] += redis_cpu(redis_url) - redis_before
        latencies, cpu, wall = result["latencies"], result["cpu"], result["wall"]
        players = 2 * groups
        per_participant_minute = cpu / (players * wall / 60)
        expected = players * int(args.seconds * args.fps)
        print(
            f"{server:>12} {groups:>7} {players:>8} {len(latencies) / wall:>10.0f} "
            f"{100 * len(latencies) / expected:>10.1f} {percentile(latencies, 0.5):>8.2f} "
            f"{percentile(latencies, 0.99):>8.2f} {100 * cpu / wall:>11.1f} {per_participant_minute:>26.3f} "
            f"{100 * result['client_cpu'] / wall:>13.1f} {100 * result['loop_on_cpu'] / wall:>14.1f} "
            f"{100 * result['loop_waited'] / wall:>13.1f} {len(result['drops']):>8}"
            + (f"  ({result['drops'][0]})" if result["drops"] else ""),
            flush=True,
        )
    print(f"machine speed at the end: the fixed Python workload took {python_speed_ms():.0f} ms")


if __name__ == "__main__":
    main()
