"""A human and an ONNX policy play one env in Chromium; every logged AI action equals native onnxruntime's."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from conftest import CARTPOLE, HostProcess, environment_with, gymcast_command, wait_for
from gymcast import Human, OnnxPolicy
from gymcast.bundler.bundle import build_loaded
from gymcast.experiment.loader import load_experiment

VARIANTS = {
    "argmax": OnnxPolicy(model="policies/cartpole_mlp.onnx", action="argmax"),
    "sample_every_2": OnnxPolicy(model="policies/cartpole_mlp.onnx", action="sample", act_every=2, seed=9),
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def played_twin(request, browser, tmp_path_factory):
    loaded = load_experiment(CARTPOLE / "human_and_ai.py")
    loaded.experiment.players({"human": Human(keys={"ArrowLeft": 0, "ArrowRight": 1}), "ai": VARIANTS[request.param]})
    root = tmp_path_factory.mktemp(f"twin-{request.param}")
    bundle = build_loaded(loaded, root / "bundle").path
    with HostProcess(bundle, root / "logs.sqlite") as host:
        context = browser.new_context()
        page = context.new_page()
        page.goto(host.url)
        assert wait_for(page, "s.phase === 'ready' || s.phase === 'error'", timeout_s=90)["phase"] == "ready"
        page.keyboard.down("ArrowRight")  # the human's cart falls; the episode ends for the team
        page.click("#start")
        wait_for(page, "s.episode === 0 && !s.in_episode && s.step > 0")
        page.keyboard.up("ArrowRight")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0")
        context.close()
    return request.param, bundle, host.data, status


def test_human_and_onnx_policy_episodes_run_to_the_end(played_twin):
    variant, _, db, status = played_twin
    assert status["rejected_events"] == 0 and status["error"] is None
    with sqlite3.connect(db) as connection:
        steps = [
            json.loads(r[0]) for r in connection.execute("SELECT data FROM events WHERE type = 'step' ORDER BY seq")
        ]
        ends = connection.execute("SELECT COUNT(*) FROM events WHERE type = 'episode_end'").fetchone()[0]
    assert ends == 2
    assert all(set(s["actions"]) == {"human", "ai"} for s in steps)
    decided = [bool(s["policy_agents"]) for s in steps]
    assert all(decided) if variant == "argmax" else sum(decided) < len(decided)
    assert all(s["policy_ms"] >= 0 for s in steps)


def test_logged_ai_actions_equal_native_onnxruntime(played_twin):
    _, bundle, db, _ = played_twin
    result = subprocess.run(
        gymcast_command("replay", str(db), "--bundle", str(bundle), "--check-policies"),
        capture_output=True,
        text=True,
        env=environment_with(COLUMNS="200"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("match") == 2 and "diverged" not in result.stdout


def test_a_flipped_ai_action_is_caught_by_the_policy_check(played_twin, tmp_path):
    _, bundle, db, _ = played_twin
    copy = tmp_path / "flipped.sqlite"
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as connection:
        seq, data = connection.execute(
            "SELECT seq, data FROM events WHERE type = 'step' AND episode = 0 AND step = 3"
        ).fetchone()
        record = json.loads(data)
        record["actions"]["ai"] = 1 - record["actions"]["ai"]
        connection.execute("UPDATE events SET data = ? WHERE seq = ?", (json.dumps(record), seq))
    result = subprocess.run(
        gymcast_command("replay", str(copy), "--bundle", str(bundle), "--check-policies"),
        capture_output=True,
        text=True,
        env=environment_with(COLUMNS="300"),
    )
    assert result.returncode == 1
    assert "diverged at step 3" in result.stdout and "native AI actions" in result.stdout
