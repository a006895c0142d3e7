"""Static-only hosting: the bundle on a plain static server, logging to a gymcast host elsewhere, or nowhere."""

from __future__ import annotations

import sqlite3

from conftest import CARTPOLE, HostProcess, wait_for
from gymcast.bundler.bundle import build_loaded
from gymcast.experiment.loader import load_experiment
from gymcast.testing import StaticServer, free_port


def build_with_log_url(root, log_url: str):
    loaded = load_experiment(CARTPOLE)
    loaded.experiment.hosting(log_url=log_url)
    return build_loaded(loaded, root / "bundle").path


def play_through(page) -> dict:
    wait_for(page, "s.phase === 'ready'", timeout_s=90)
    page.click("#start")
    return wait_for(page, "s.phase === 'done'", timeout_s=60)


def test_a_static_bundle_logs_to_a_gymcast_host_on_another_origin(page, tmp_path):
    host_port = free_port()
    bundle = build_with_log_url(tmp_path, f"http://127.0.0.1:{host_port}")
    static = StaticServer(bundle)
    with (
        static,
        HostProcess(bundle, tmp_path / "logs.sqlite", port=host_port, extra_args=("--cors-origin", static.url)) as host,
    ):
        page.goto(static.url + "/?PROLIFIC_PID=static1")
        play_through(page)
        status = wait_for(page, "s.pending_events === 0")
        assert status["log_error"] is None
        with sqlite3.connect(host.data) as db:
            participant = db.execute("SELECT participant_id FROM sessions").fetchone()[0]
            steps = db.execute("SELECT COUNT(*) FROM events WHERE type = 'step'").fetchone()[0]
        assert participant == "static1" and steps > 0


def test_without_any_host_the_study_still_runs_and_keeps_its_log(page, tmp_path):
    bundle = build_with_log_url(tmp_path, "")
    with StaticServer(bundle) as static:
        page.goto(static.url + "/")
        status = play_through(page)
    assert status["pending_events"] > 0 and status["durable_log"]  # kept in IndexedDB, nothing sent
