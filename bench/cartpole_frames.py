"""CartPole in Chromium on localhost: time to first frame (cold and warm) and frame times.

Run: .venv/bin/python bench/cartpole_frames.py [--seconds 20]
Prints figures only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from gymcast.bundler.bundle import build_loaded
from gymcast.experiment.loader import load_experiment
from gymcast.testing import HostProcess, frame_intervals, launch_chromium, logged_steps, percentile, time_to_first_frame

CARTPOLE = Path(__file__).resolve().parents[1] / "examples" / "cartpole"
PAUSE_MS = 500  # longer gaps are pauses between episodes, not frames


def play(page, seconds: float) -> None:
    """Tap the arrows alternately (a crude balancer) so episodes last, until time runs out or the run ends."""
    deadline = time.monotonic() + seconds
    key = "ArrowLeft"
    while time.monotonic() < deadline and page.evaluate("window.gymcast.status().phase") == "playing":
        page.keyboard.down(key)
        time.sleep(0.05)
        page.keyboard.up(key)
        key = "ArrowRight" if key == "ArrowLeft" else "ArrowLeft"
    page.wait_for_function("() => window.gymcast.status().pending_events === 0", timeout=30_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_experiment(CARTPOLE)
        loaded.experiment.gameplay(num_episodes=200, max_steps=500, seed=1)  # long enough to measure
        bundle = build_loaded(loaded, Path(tmp) / "bundle").path
        fps = json.loads((bundle / "manifest.json").read_text())["game"]["rendering"]["fps"]
        with HostProcess(bundle, Path(tmp) / "bench.sqlite") as host, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context()
            cold_page = context.new_page()
            cold_ready, cold_frame = time_to_first_frame(cold_page, host.url)
            cold_page.close()  # it would keep playing and compete for the CPU
            page = context.new_page()
            warm_ready, warm_frame = time_to_first_frame(page, host.url)
            play(page, args.seconds)
            draws = page.evaluate("window.gymcast.drawTimes()")
            session_id = page.evaluate("window.gymcast.status().session_id")
            browser.close()
            steps = [event.data for event in logged_steps(host.data, session_id)]
    intervals = frame_intervals(draws, PAUSE_MS)
    step_ms = [s["step_ms"] for s in steps]
    late = sum(1 for s in steps if s["late_ms"] > 1000 / fps)
    print(f"CartPole, Chromium headless, localhost, target {fps} fps ({1000 / fps:.1f} ms per frame)")
    print(f"{'figure':44} {'value':>10}")
    print(f"{'cold: navigation -> Start button (s)':44} {cold_ready:10.2f}")
    print(f"{'cold: navigation -> first frame (s)':44} {cold_frame:10.2f}")
    print(f"{'warm: navigation -> Start button (s)':44} {warm_ready:10.2f}")
    print(f"{'warm: navigation -> first frame (s)':44} {warm_frame:10.2f}")
    print(f"{'frames measured':44} {len(intervals):10d}")
    print(f"{'frame interval p50 (ms)':44} {statistics.median(intervals):10.2f}")
    print(f"{'frame interval p99 (ms)':44} {percentile(intervals, 0.99):10.2f}")
    print(f"{'python step + hash p50 (ms)':44} {statistics.median(step_ms):10.3f}")
    print(f"{'python step + hash p99 (ms)':44} {percentile(step_ms, 0.99):10.3f}")
    print(f"{'steps late by more than one frame':44} {late:10d} of {len(steps)}")


if __name__ == "__main__":
    main()
