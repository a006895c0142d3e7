"""A late step never stalls the page: the main thread keeps drawing, and the log records how late the step was."""

from __future__ import annotations

from pathlib import Path

from conftest import HostProcess, events_of, open_player, wait_for
from gymcast.storage import SQLiteEventStore

SLOW_STEP = Path(__file__).parent / "fixtures" / "experiments" / "slow_step"
#: counts display frames (requestAnimationFrame callbacks) on the main thread, with their times
COUNT_DISPLAY_FRAMES = """
window.__displayFrames = [];
const tick = (now) => { window.__displayFrames.push(now); requestAnimationFrame(tick); };
requestAnimationFrame(tick);
"""


def test_a_slow_step_is_logged_late_while_the_page_keeps_drawing(browser, tmp_path):
    from gymcast.build.bundle import build_bundle

    bundle = build_bundle(SLOW_STEP, tmp_path / "bundle").path
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        context = browser.new_context()
        context.add_init_script(COUNT_DISPLAY_FRAMES)
        page = open_player(browser, host.url, "slow", context)
        page.click("#start")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 60)
        drawn_steps = page.evaluate("window.gymcast.drawnSteps()")
        display_frames = page.evaluate("window.__displayFrames")
    steps = {e.step: e.data for e in events_of(SQLiteEventStore(tmp_path / "logs.sqlite"), status["session_id"], "step")}
    assert steps[6]["late_ms"] >= 300, "the step after the slow one starts late, and the log says by how much"
    assert max(steps[s]["late_ms"] for s in steps if s < 5) < 300
    before = next(at for episode, step, at in drawn_steps if step == 4)  # the last frame before the slow step
    after = next(at for episode, step, at in drawn_steps if step == 6)
    during = [t for t in display_frames if before < t < after]
    assert after - before >= 350
    # the main thread went on with display frames while the worker was busy: at least 10 per second
    assert len(during) >= (after - before) / 100, (len(during), after - before)
