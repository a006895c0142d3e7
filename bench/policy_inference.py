"""ONNX policy inference per step: onnxruntime-web in Chromium next to native onnxruntime, one run.

Plays examples/cartpole/ai_feedback.py (the ONNX policy balances CartPole) in headless Chromium,
reads each step's `policy_ms` from the log (onnxruntime-web run plus tensor marshalling in the
worker), then times native onnxruntime on the same observations rebuilt by replay.

Run: .venv/bin/python bench/policy_inference.py [--steps 600]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from gymcast.bundler.bundle import build_loaded
from gymcast.experiment.loader import load_experiment
from gymcast.replay import logged_episodes, open_bundle
from gymcast.storage import SQLiteEventStore
from gymcast.testing import HostProcess, launch_chromium, percentile

EXPERIMENT = Path(__file__).resolve().parents[1] / "examples" / "cartpole" / "ai_feedback.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_experiment(EXPERIMENT)
        loaded.experiment.rendering(fps=60, width=600, height=400, frame_fn="frames:draw_cartpole")
        loaded.experiment.gameplay(num_episodes=args.steps // 300 + 1, max_steps=300, seed=5)
        bundle = build_loaded(loaded, Path(tmp) / "bundle").path
        with HostProcess(bundle, Path(tmp) / "bench.sqlite") as host, sync_playwright() as playwright:
            page = launch_chromium(playwright).new_page()
            page.goto(host.url)
            page.wait_for_function("() => window.gymcast.status().phase === 'ready'", timeout=120_000)
            page.click("#start")
            page.wait_for_function(
                "() => window.gymcast.status().phase === 'done' && window.gymcast.status().pending_events === 0",
                timeout=600_000,
            )
        store = SQLiteEventStore(host.data)
        with sqlite3.connect(host.data) as db:
            browser_ms = [
                json.loads(r[0])["policy_ms"] for r in db.execute("SELECT data FROM events WHERE type = 'step'")
            ]
        with open_bundle(bundle) as game:
            session, policies = game.session("main"), game.native_policies("main")
            requests = []
            for logged in logged_episodes(store.iter_events()):
                session.reset(logged.seed, logged.episode)
                for step in sorted(logged.steps, key=lambda s: s.step):
                    batch = session.policy_requests()
                    requests += batch
                    session.step(step.actions, policies.run(batch))
            native_ms = []
            for request in requests:
                started = time.perf_counter()
                policies.run([request])
                native_ms.append((time.perf_counter() - started) * 1000)
    print(f"CartPole MLP policy (4-32-2), {len(browser_ms)} steps, one run")
    print(f"{'':34} {'median ms':>10} {'p99 ms':>10}")
    print(
        f"{'onnxruntime-web in Chromium':34} {statistics.median(browser_ms):10.3f} {percentile(browser_ms, 0.99):10.3f}"
    )
    print(
        f"{'native onnxruntime (Python)':34} {statistics.median(native_ms):10.3f} {percentile(native_ms, 0.99):10.3f}"
    )
    print(
        f"{'ratio browser / native (median)':34} {statistics.median(browser_ms) / statistics.median(native_ms):10.1f}"
    )
    print("browser figures include tensor marshalling in the worker; performance.now() there is coarsened to 0.1 ms")


if __name__ == "__main__":
    main()
