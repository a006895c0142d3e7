"""The load-and-play harness: the CartPole and Overcooked bundles in Chromium, one command, two tables.

Start-up: for each bundle and network profile, a fresh browser context loads the page (cold),
then, once its service worker has stored the build, a second page in the same context loads it
again (warm: the service worker and the HTTP cache hold the files, as on a participant's return).
Every request goes through a throttling proxy (bench/throttle.py): the page's, its worker's and
its service worker's requests share one link of the profile's bandwidth and round trip, as on a
participant's connection. Figures: bytes the link carried down until the Start button showed,
seconds to the Start button (the first playable moment), and seconds to the first game frame
when Start is clicked at once. The baseline, measured in the same run, is the bundle built with
`--no-slim` (the whole standard library and wheels, as published) and served with
`--no-compression`. The other variants add, one at a time: pre-compression; slimming (only the
traced modules, as bytecode: today's default build); and repacking (`gymcast build --repack`).
The last, the default build again, stays on the Start screen between its cold and warm visits
until the worker has stored the snapshot after the imports, so its warm visit restores Python from
it (the other variants click Start at once: their warm visits are the previous default's).

Play (unthrottled, a third, warm visit, at the issue's goal rates: CartPole 60 steps/s, Overcooked
30; Start is clicked 3 s after it shows, as a participant reading it would): keys are tapped for
`--seconds` (CartPole's episodes under crude tapping are short and 1.5 s pauses separate
them, so about a quarter of that is play), and the figures are main-thread long tasks (over 50 ms),
the interval between new frames (p50, p99), steps the log marks late by more than one period,
display frames the main thread dropped (gaps between animation frames beyond one refresh),
input-to-screen latency (a key's `keydown` on the main thread to the display of the first frame of a
step that used it; p50, p99), and the host's CPU seconds per participant-minute. Each bundle plays
up to 200 episodes.

Run: ./scripts/bench.sh [--seconds 40] [--bundles cartpole,overcooked] [--profiles unthrottled,20mbit,5mbit]
(it sets up, then runs this), or .venv/bin/python bench/startup.py with the same arguments once set up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import sync_playwright

from gymcast.bundler.bundle import build_loaded
from gymcast.experiment.loader import load_experiment
from gymcast.testing import (
    HostProcess,
    cpu_seconds,
    frame_intervals,
    launch_chromium,
    logged_steps,
    percentile,
    time_to_first_frame,
)
from throttle import ThrottlingProxy

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: bundle -> (example, keys tapped while playing, the issue's goal rate in steps per second)
BUNDLES = {
    "cartpole": (EXAMPLES / "cartpole", ["ArrowLeft", "ArrowRight"], 60),
    "overcooked": (EXAMPLES / "overcooked", ["ArrowLeft", "ArrowUp", "ArrowRight", "ArrowDown", " "], 30),
}
#: profile -> (label in the table, (Mbit/s, RTT ms) or None for no throttling)
PROFILES = {
    "unthrottled": ("unthrottled", None),
    "20mbit": ("20 Mbit/s, 40 ms RTT", (20, 40)),
    "5mbit": ("5 Mbit/s, 80 ms RTT", (5, 80)),
}
#: variant -> (slim, repack at build time, `gymcast serve` arguments)
VARIANTS = {
    "baseline (as published)": (False, False, ("--no-compression",)),
    "pre-compressed": (False, False, ()),
    "pre-compressed, slim": (True, False, ()),
    "pre-compressed, slim, repacked": (True, True, ()),
    "default + snapshot after imports": (True, False, ()),
}
#: variants whose warm visit follows a visit that stayed on the Start screen until the worker stored
#: the snapshot after the imports (in the others Start is clicked at once, so none is made: the
#: previous default's warm visit)
SNAPSHOTTED = {"default + snapshot after imports"}
SNAPSHOT_STORED = """async () => (await (await caches.open("gymcast-import-snapshots")).keys())
  .some((request) => request.url.endsWith("/meta.json"))"""
OPTIMISED = "pre-compressed, slim"  # the default build
PAUSE_MS = 1000  # a longer gap between new frames is a pause between episodes
READING_S = 3  # how long the play runs' participant reads the Start screen before clicking Start
#: collects main-thread long tasks, key presses and display frames from the first script of every page
OBSERVE = """
window.__displayFrames = [];
const onDisplayFrame = (t) => { window.__displayFrames.push(t); requestAnimationFrame(onDisplayFrame); };
requestAnimationFrame(onDisplayFrame);
window.__longTasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]); })
  .observe({ type: "longtask", buffered: true });
window.__keyDowns = [];
addEventListener("keydown", (e) => {
  const s = window.gymcast?.status();
  if (!e.repeat && s?.in_episode) window.__keyDowns.push([e.key, performance.now(), s.episode]);
}, true);
"""


def load(context, proxy: ThrottlingProxy):
    """(page, seconds to Start button, seconds to first frame, bytes down until Start) for one page load
    in `context` through `proxy`."""
    page = context.new_page()
    before = proxy.down.carried
    carried: list[int] = []
    ready, frame = time_to_first_frame(page, proxy.url, on_ready=lambda: carried.append(proxy.down.carried - before))
    return page, ready, frame, carried[0]


def wait_until_offline_ready(page, timeout_s: float = 300) -> None:
    """Keep `page` open until its service worker stored the build, as a participant's first visit
    does before a later return; a warning if it never does (the warm visit then uses the HTTP cache)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate("() => window.gymcast.status().offline_ready") and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    if not page.evaluate("() => window.gymcast.status().offline_ready"):
        print(f"warning: the service worker did not store the build within {timeout_s:g} s", file=sys.stderr)


def wait_for_snapshot(context, url: str, timeout_s: float = 180) -> None:
    """Load `url` and stay on the Start screen until the snapshot after the imports is stored, as a
    participant reading it would; a warning if it never is (the warm visit then boots afresh)."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => window.gymcast && window.gymcast.status().phase === 'ready'", timeout=300_000)
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(SNAPSHOT_STORED) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    if not page.evaluate(SNAPSHOT_STORED):
        print(f"warning: no snapshot after the imports was stored within {timeout_s:g} s", file=sys.stderr)
    page.close()


def start_after_reading(context, url: str):
    """A page of `url` in `context` whose Start is clicked `READING_S` after it shows, as a
    participant reading the Start screen would (the worker warms the game up meanwhile)."""
    page = context.new_page()
    time_to_first_frame(page, url, READING_S)
    return page


def dropped_display_frames(times: list[float]) -> int:
    """Display frames missed between consecutive animation frames at `times` (ms), taking the median
    gap as the display's refresh period."""
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    refresh = statistics.median(gaps)
    return sum(max(0, round(gap / refresh) - 1) for gap in gaps)


def logged_until_drawn(host: HostProcess, session_id: str, drawn: list, timeout_s: float = 60) -> list:
    """The session's logged steps once the host has every step drawn so far (the game goes on playing, so the
    page always has a few steps waiting for the outbox's next batch)."""
    last = max(((episode, step) for episode, step, _ in drawn if step > 0), default=None)  # the log keeps order
    deadline = time.monotonic() + timeout_s
    while True:
        steps = logged_steps(host.data, session_id)
        if last is None or last in {(event.episode, event.step) for event in steps}:
            return steps
        if time.monotonic() > deadline:
            print(f"warning: step {last} was drawn but not logged within {timeout_s:g} s", file=sys.stderr)
            return steps
        time.sleep(1)


def play(page, host: HostProcess, keys: list[str], seconds: float, fps: int) -> dict[str, float | str]:
    """Tap `keys` in turn for `seconds` on a page playing at `fps` steps per second; the play figures."""
    started_ms = page.evaluate("performance.now()")
    cpu_before, wall_before = cpu_seconds(host.process.pid), time.perf_counter()
    deadline = time.monotonic() + seconds
    index = 0
    while time.monotonic() < deadline and page.evaluate("window.gymcast.status().phase") == "playing":
        page.keyboard.down(keys[index % len(keys)])
        time.sleep(0.12)
        page.keyboard.up(keys[index % len(keys)])
        time.sleep(0.25)
        index += 1
    minutes = (time.perf_counter() - wall_before) / 60
    ended_ms = page.evaluate("performance.now()")
    long_tasks = [duration for start, duration in page.evaluate("window.__longTasks") if start >= started_ms]
    drawn = page.evaluate("window.gymcast.drawnSteps()")
    key_downs = [(key, t, episode) for key, t, episode in page.evaluate("window.__keyDowns") if t >= started_ms]
    session_id = page.evaluate("window.gymcast.status().session_id")
    steps = logged_until_drawn(host, session_id, drawn)
    # the game plays on meanwhile: the host's CPU is per minute of play up to the moment its log caught up
    host_cpu, host_minutes = cpu_seconds(host.process.pid) - cpu_before, (time.perf_counter() - wall_before) / 60
    shown = {(episode, step): t for episode, step, t in drawn}
    used_at = sorted(
        (shown[(e.episode, e.step)], e.episode, key)
        for e in steps
        for key in e.data["keys"].values()
        if key and (e.episode, e.step) in shown
    )
    latencies = []
    for key, pressed, episode in key_downs:  # keys pressed during an episode, matched within it
        later = [t for t, in_episode, used in used_at if used == key and in_episode == episode and t >= pressed]
        if later:
            latencies.append(later[0] - pressed)
    times = [t for _, _, t in drawn if t >= started_ms]
    intervals = frame_intervals(times, PAUSE_MS)
    late = sum(1 for event in steps if event.data["late_ms"] > 1000 / fps)
    display_frames = [t for t in page.evaluate("window.__displayFrames") if started_ms <= t <= ended_ms]
    return {
        "steps per second (target)": fps,
        "long tasks per minute": len(long_tasks) / minutes,
        "long task time (ms per minute)": sum(long_tasks) / minutes,
        "frame interval p50 (ms)": statistics.median(intervals),
        "frame interval p99 (ms)": percentile(intervals, 0.99),
        "steps late by more than one period": f"{late}/{len(steps)}",
        "display frames dropped": f"{dropped_display_frames(display_frames)}/{len(display_frames)}",
        "input-to-screen p50 (ms)": statistics.median(latencies),
        "input-to-screen p99 (ms)": percentile(latencies, 0.99),
        "keys matched to a frame": f"{len(latencies)}/{len(key_downs)}",
        "host CPU s per participant-minute": host_cpu / host_minutes,
    }


def chosen(options: dict, separator: str = ",") -> Callable[[str], list[str]]:
    """An argparse type: a `separator`-separated list of `options`' keys, refused with the valid ones if any is
    unknown."""

    def parse(value: str) -> list[str]:
        names = [name.strip() for name in value.split(separator)]
        unknown = [name for name in names if name not in options]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {separator.join(unknown)}: choose from {(separator + ' ').join(options)}"
            )
        return names

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40, help="how long each play measurement lasts")
    parser.add_argument(
        "--bundles", type=chosen(BUNDLES), default=list(BUNDLES), help="which of: " + ", ".join(BUNDLES)
    )
    parser.add_argument(
        "--profiles",
        type=chosen(PROFILES),
        default=list(PROFILES),
        help="which networks, of: " + ", ".join(PROFILES) + " (play needs unthrottled)",
    )
    parser.add_argument(
        "--variants",
        type=chosen(VARIANTS, separator=";"),
        default=list(VARIANTS),
        help="which builds, separated by ';' (names hold commas), of: " + "; ".join(VARIANTS),
    )
    args = parser.parse_args()
    startup, plays = [], {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for name in args.bundles:
            folder, keys, fps = BUNDLES[name]
            for variant in args.variants:
                slim, repack, host_args = VARIANTS[variant]
                loaded = load_experiment(folder)
                manifest = loaded.experiment.to_manifest()
                loaded.experiment.rendering(**{**manifest["rendering"], "fps": fps})
                loaded.experiment.gameplay(**{**manifest["gameplay"], "num_episodes": 200})
                bundle = build_loaded(loaded, Path(tmp) / f"{name}-{slim}-{repack}", repack=repack, slim=slim).path
                with HostProcess(bundle, Path(tmp) / f"{name}{len(startup)}.sqlite", extra_args=host_args) as host:
                    for profile in args.profiles:
                        label, network = PROFILES[profile]
                        mbit, rtt = network or (None, 0)
                        with ThrottlingProxy(host.port, mbit, rtt) as proxy:
                            context = browser.new_context()
                            context.add_init_script(OBSERVE)
                            for visit in ("cold", "warm"):
                                if visit == "warm" and variant in SNAPSHOTTED:
                                    wait_for_snapshot(context, proxy.url)
                                page, *figures = load(context, proxy)
                                startup.append((name, label, visit, variant, *figures))
                                boot = page.evaluate("window.gymcast.status().python_boot")
                                if variant in SNAPSHOTTED and visit == "warm" and boot["path"] != "restored":
                                    print(
                                        f"warning: {name} {label} warm visit booted afresh: {boot['why']}",
                                        file=sys.stderr,
                                    )
                                if visit == "cold":
                                    wait_until_offline_ready(page)
                                page.close()
                                if variant == OPTIMISED and network is None and visit == "warm":
                                    page = start_after_reading(context, host.url)
                                    plays[name] = play(page, host, keys, args.seconds, fps)
                                    page.close()
                            context.close()
        browser.close()
    print(f"Start-up, Chromium headless, one run on {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"{'bundle':10} {'network':22} {'visit':5} {'variant':30} {'Start (s)':>9} {'frame (s)':>9} {'MB':>7}")
    labels = [label for label, _ in PROFILES.values()]
    order = lambda row: (row[0], labels.index(row[1]), row[2])  # noqa: E731
    for name, profile, visit, variant, ready, frame, transferred in sorted(startup, key=order):
        print(f"{name:10} {profile:22} {visit:5} {variant:30} {ready:9.2f} {frame:9.2f} {transferred / 1e6:7.2f}")
    if not plays:
        print("\nPlay: not measured (it runs on the unthrottled profile)")
        return
    print(f"\nPlay, unthrottled, warm, {args.seconds:g} s of tapped keys per bundle")
    print(f"{'figure':36} " + " ".join(f"{name:>12}" for name in plays))
    for figure in next(iter(plays.values())):
        cells = [plays[name][figure] for name in plays]
        print(f"{figure:36} " + " ".join(f"{c:>12}" if isinstance(c, str) else f"{c:12.2f}" for c in cells))


if __name__ == "__main__":
    main()
