"""Helpers for gymcast's own tests and benchmarks: a real `gymcast serve` process and Debian's Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from gymcast.cli_command import command_line
from gymcast.contracts import LOG_SCHEMA
from gymcast.server.production import GRACEFUL_TIMEOUT_S

if TYPE_CHECKING:
    from gymcast.experiment import Experiment

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Headless Chromium opens a window for every page, and each window starts the omnibox popup's own renderer
    # (chrome://omnibox-popup.top-chrome): about 2 CPU-seconds per page, on the cores the page loads on. A
    # participant's browser has its window open before the study's link loads.
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup",
]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


gymcast_command = command_line
"""The gymcast CLI of this interpreter's environment, as an argv list."""


class HostProcess:
    """`gymcast serve BUNDLE` in a child process on a free loopback port, logging to `data`."""

    def __init__(self, bundle: Path, data: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.bundle, self.data, self.port = bundle, data, port or free_port()
        self.extra_args = extra_args
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60) -> HostProcess:
        """Start the host and wait until it answers."""
        # stderr to a file, not a pipe (a full pipe would stall the host's logging), appended to by the host
        log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            gymcast_command(
                "serve", str(self.bundle), "--port", str(self.port), "--data", str(self.data), *self.extra_args
            ),
            stdout=subprocess.DEVNULL,
            stderr=open(f"/proc/self/fd/{log.fileno()}", "a"),  # noqa: SIM115 (the child holds it)
            text=True,
        )
        self.process.stderr = _WholeLog(log)  # type: ignore[assignment]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/manifest.json", timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    stderr = self.process.stderr.read() if self.process.stderr else ""
                    raise RuntimeError(f"gymcast serve exited: {stderr}") from None
                time.sleep(0.1)
        raise RuntimeError(f"gymcast serve did not answer within {timeout_s} s")

    def crash(self) -> None:
        """SIGKILL the host and its worker processes, as a crash would: no graceful shutdown, nothing
        finishes (the server first, so that it starts no new worker)."""
        assert self.process is not None
        for pid in process_tree(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop the host (SIGTERM) and wait for its graceful shutdown (open browser connections may hold it for
        gunicorn's graceful timeout); kill it if it outlasts that."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(GRACEFUL_TIMEOUT_S + 10)
            except subprocess.TimeoutExpired:
                self.crash()

    def kill(self) -> None:
        """Kill the host and its worker processes at once (SIGKILL, as a crash or an OOM kill would): nothing
        of it runs any shutdown code."""
        if not self.process or self.process.poll() is not None:
            return
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        self.process.kill()  # first, so that it cannot start new workers
        for pid in children:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        self.process.wait(10)

    def __enter__(self) -> HostProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _WholeLog:
    """A host's stderr file; `read()` returns everything written so far."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file

    def read(self) -> str:
        self.file.seek(0)  # our own offset: the host appends through its own open file
        return self.file.read()

    def close(self) -> None:
        self.file.close()


class StaticServer:
    """A plain static file server (Python's http.server) for a folder: a host with no gymcast API."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> StaticServer:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/manifest.json", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the static server did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def create_session(base_url: str, experiment: str = "relay_test") -> tuple[str, str]:
    """A new session on a running host: `(session_id, token)`, as a browser would register it."""
    body = json.dumps(
        {"schema": LOG_SCHEMA, "experiment": experiment, "build_id": "test", "session_id": uuid.uuid4().hex}
    ).encode()
    request = urllib.request.Request(base_url + "/api/v1/sessions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        reply = json.loads(response.read())
    return reply["session_id"], reply["token"]


def threads_of(pid: int) -> list[Path] | None:
    """The /proc folders of a process's threads; None when it has ended (Linux /proc)."""
    try:
        return list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_tree(pid: int) -> list[int]:
    """A process and its live descendants (a server's worker processes), parents first (Linux /proc)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop(0)
        tasks = threads_of(current)
        if tasks is None:
            continue  # it ended meanwhile
        found.append(current)
        for task in tasks:
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that ended meanwhile (a relay connection's): its process still counts
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process and its live descendants (a server's worker
    processes included; Linux /proc)."""
    total = 0.0
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def thread_schedules(pid: int) -> dict[int, tuple[float, float]]:
    """Per thread of a process and its live descendants: (seconds on a CPU, seconds runnable but waiting for a
    CPU) so far (Linux /proc/.../schedstat). A busy thread that waits little is limited by its own work, not
    by what shares the machine with it."""
    found: dict[int, tuple[float, float]] = {}
    for current in process_tree(pid):
        for task in threads_of(current) or []:  # none: it ended meanwhile
            try:
                on_cpu_ns, waited_ns = (int(field) for field in (task / "schedstat").read_text().split()[:2])
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that ended meanwhile
            found[int(task.name)] = (on_cpu_ns / 1e9, waited_ns / 1e9)
    return found


def busiest_thread(
    before: dict[int, tuple[float, float]], after: dict[int, tuple[float, float]]
) -> tuple[float, float]:
    """The (seconds on a CPU, seconds waiting for one) between two `thread_schedules` readings of the thread that
    was on a CPU the longest meanwhile (a relay's socket loop under load); (0, 0) when none ran."""
    spans = [
        (on_cpu - before.get(tid, (0.0, 0.0))[0], waited - before.get(tid, (0.0, 0.0))[1])
        for tid, (on_cpu, waited) in after.items()
    ]
    return max(spans, default=(0.0, 0.0))


def logged_steps(data: Path | str, session_id: str) -> list:
    """The `step` events one session logged in `data` (a SQLite file or a PostgreSQL URL), in order."""
    from gymcast.storage import open_store

    return [event for event in open_store(data).iter_events(session_id) if event.type == "step"]


def frame_intervals(times: list[float], pause_ms: float) -> list[float]:
    """Milliseconds between consecutive new frames, leaving out gaps of `pause_ms` or more (between episodes)."""
    return [b - a for a, b in zip(times, times[1:]) if b - a < pause_ms]


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_to_first_frame(
    page, url: str, reading_s: float = 0.0, on_ready: Callable[[], object] | None = None
) -> tuple[float, float]:
    """Seconds from navigating `page` to `url` until the Start button, and until the first game frame
    when Start is clicked `reading_s` after it shows (at once by default); `on_ready` is called when
    the Start button shows."""
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function("() => window.gymcast && window.gymcast.status().phase === 'ready'", timeout=300_000)
    ready = time.perf_counter() - started
    if on_ready:
        on_ready()
    time.sleep(reading_s)
    page.click("#start")
    page.wait_for_function("() => window.gymcast.status().frames_drawn > 0")
    return ready, time.perf_counter() - started


def launch_chromium(playwright):
    """Debian's headless Chromium through Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing; run scripts/setup.sh --tests (it installs Debian's chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


def manifest_only_bundle(folder: Path, experiment: Experiment) -> Path:
    """A bundle folder holding only a manifest for `experiment` (no files): enough for the host and the relay,
    which never step an env. Returns `folder`."""
    from gymcast.contracts import bundle_contracts
    from gymcast.manifest import BundleManifest, PyodideDist, write_manifest

    folder.mkdir(parents=True, exist_ok=True)
    manifest = BundleManifest(
        gymcast_version="test",
        build_id="0" * 16,
        runtime="",
        service_worker="",
        pyodide=PyodideDist(version="", index_url="", lock_url=""),
        packages=[],
        experiment_package="",
        game=experiment.to_manifest(),
        games=experiment.games(),
        flow=experiment.flow_manifest(),
        contracts=bundle_contracts(),
        files={},
        hosting=experiment.host_settings,
    )
    write_manifest(folder, manifest)
    return folder
