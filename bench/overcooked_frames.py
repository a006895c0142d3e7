"""Overcooked (Cramped Room, human + ONNX partner) in Chromium on localhost: step time, render time per
display frame, and the achieved step and display rates, at the example's rate and at 30 steps/s.

Run: .venv/bin/python bench/overcooked_frames.py [--seconds 20]
Prints figures only; nothing here is asserted. The participant's seat idles (its default action),
so the partner cooks alone while the page is measured.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from gymcast.bundler.bundle import build_loaded
from gymcast.experiment.loader import load_experiment
from gymcast.testing import HostProcess, frame_intervals, launch_chromium, logged_steps, percentile, time_to_first_frame

OVERCOOKED = Path(__file__).resolve().parents[1] / "examples" / "overcooked"
PAUSE_MS = 1000  # longer gaps between new steps are pauses between episodes


def measure(fps: int | None, seconds: float, tmp: Path) -> dict[str, float]:
    """Build the example (at `fps` steps per second if given), play it for `seconds`, and return its figures."""
    loaded = load_experiment(OVERCOOKED)
    manifest = loaded.experiment.to_manifest()
    rendering = manifest["rendering"]
    fps = fps or rendering["fps"]
    loaded.experiment.rendering(**{**rendering, "fps": fps})
    loaded.experiment.gameplay(**{**manifest["gameplay"], "num_episodes": 50})
    bundle = build_loaded(loaded, tmp / f"bundle{fps}").path
    with HostProcess(bundle, tmp / f"bench{fps}.sqlite") as host, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_context().new_page()
        ready_s, first_frame_s = time_to_first_frame(page, host.url)
        started = time.perf_counter()
        rendered_before = len(page.evaluate("window.gymcast.renderTimes()"))
        time.sleep(seconds)  # the 4096 kept render times cover more than a minute at 60 Hz
        elapsed = time.perf_counter() - started
        renders = page.evaluate("window.gymcast.renderTimes()")
        draws = page.evaluate("window.gymcast.drawTimes()")
        session_id = page.evaluate("window.gymcast.status().session_id")
        page.wait_for_function("() => window.gymcast.status().pending_events === 0", timeout=30_000)
        browser.close()
        steps = [event.data for event in logged_steps(host.data, session_id)]
    intervals = frame_intervals(draws, PAUSE_MS)
    step_ms = [s["step_ms"] for s in steps]
    policy_ms = [s.get("policy_ms", 0.0) for s in steps]
    return {
        "target steps per second": fps,
        "navigation -> Start button (s)": ready_s,
        "navigation -> first frame (s)": first_frame_s,
        "steps logged": len(steps),
        "python step + hash p50 (ms)": float(statistics.median(step_ms)),
        "python step + hash p99 (ms)": float(percentile(step_ms, 0.99)),
        "ONNX partner p50 (ms)": float(statistics.median(policy_ms)),
        "achieved steps per second": 1000 / statistics.median(intervals),
        "steps late by more than one period": sum(1 for s in steps if s["late_ms"] > 1000 / fps),
        "Phaser render per display frame p50 (ms)": float(statistics.median(renders)),
        "Phaser render per display frame p99 (ms)": float(percentile(renders, 0.99)),
        "display frames per second": (len(renders) - rendered_before) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        columns = [measure(None, args.seconds, Path(tmp)), measure(30, args.seconds, Path(tmp))]
    print("Overcooked Cramped Room (cogrid 0.3.2), Chromium headless, localhost; one run, both columns")
    print(f"{'figure':44} {'example':>10} {'30/s':>10}")
    for name in columns[0]:
        values = [column[name] for column in columns]
        cells = "".join(f"{v:10d} " if isinstance(v, int) else f"{v:10.2f} " for v in values)
        print(f"{name:44} {cells}")


if __name__ == "__main__":
    main()
