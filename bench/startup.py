"""Start-up of the CartPole bundle in Chromium under network emulation, with and without pre-compression.

For each network profile, a fresh browser context loads the page (cold), then a second page in the
same context loads it again (warm: the HTTP cache holds the immutable files). Figures: bytes
transferred (encoded, including the worker's downloads), seconds to the Start button (first
playable moment), and seconds to the first game frame after clicking Start at once. The baseline,
measured in the same run, is the same bundle served with `--no-compression`.

Run: .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from gymcast.build.bundle import build_bundle
from gymcast.testing import HostProcess, launch_chromium, time_to_first_frame

CARTPOLE = Path(__file__).resolve().parents[1] / "examples" / "cartpole"
PROFILES = {"unthrottled": None, "20 Mbit/s, 40 ms RTT": (20, 40), "5 Mbit/s, 80 ms RTT": (5, 80)}


def load(context, url: str, network: tuple[int, int] | None) -> tuple[float, float, int]:
    """(seconds to Start button, seconds to first frame, bytes) for one page load in `context`."""
    page = context.new_page()
    if network:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        mbit, rtt = network
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": rtt, "downloadThroughput": mbit * 125_000,
                                                      "uploadThroughput": mbit * 125_000})
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    ready, frame = time_to_first_frame(page, url)
    transferred = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in finished)
    page.close()
    return ready, frame, transferred


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        bundle = build_bundle(CARTPOLE, Path(tmp) / "bundle").path
        browser = launch_chromium(playwright)
        for variant, args in (("baseline (uncompressed)", ("--no-compression",)), ("pre-compressed", ())):
            with HostProcess(bundle, Path(tmp) / f"{len(rows)}.sqlite", extra_args=args) as host:
                for profile, network in PROFILES.items():
                    context = browser.new_context()
                    for visit in ("cold", "warm"):
                        rows.append((profile, visit, variant, *load(context, host.url, network)))
                    context.close()
    print(f"CartPole bundle, Chromium headless, one run on {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"{'network':22} {'visit':5} {'variant':24} {'Start (s)':>9} {'frame (s)':>9} {'MB':>7}")
    for profile, visit, variant, ready, frame, transferred in sorted(rows, key=lambda r: (list(PROFILES).index(r[0]), r[1])):
        print(f"{profile:22} {visit:5} {variant:24} {ready:9.2f} {frame:9.2f} {transferred / 1e6:7.2f}")


if __name__ == "__main__":
    main()
