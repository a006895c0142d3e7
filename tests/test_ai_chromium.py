"""A human and an ONNX policy play one env in Chromium; every logged AI action equals native onnxruntime's."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import numpy as np
import pytest

from conftest import CARTPOLE, HostProcess, environment_with, gymcast_command, wait_for
from gymcast import Human, OnnxPolicy
from gymcast.bundler.bundle import build_loaded
from gymcast.experiment.loader import load_experiment
from gymcast.replay import logged_episodes, open_bundle
from gymcast.storage import SQLiteEventStore
from gymcast_runtime.policies import sample_logits
from onnx_models import linear_model

VARIANTS = {
    "argmax": OnnxPolicy(model="policies/cartpole_mlp.onnx", action="argmax"),
    # near-even logits (a small random linear model), so sampling often departs from argmax and a wrong seed shows
    "sample_every_2": OnnxPolicy(model="policies/flat.onnx", action="sample", act_every=2, seed=9),
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def played_twin(request, browser, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"twin-{request.param}")
    experiment = shutil.copytree(CARTPOLE, root / "experiment", ignore=shutil.ignore_patterns("__pycache__"))
    linear_model(experiment / "policies" / "flat.onnx", 4, 2, seed=5)
    loaded = load_experiment(experiment / "human_and_ai.py")
    loaded.experiment.players({"human": Human(keys={"ArrowLeft": 0, "ArrowRight": 1}), "ai": VARIANTS[request.param]})
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
            {**json.loads(r[1]), "episode": r[0], "step": r[2]}
            for r in connection.execute("SELECT episode, data, step FROM events WHERE type = 'step' ORDER BY seq")
        ]
        ends = connection.execute("SELECT COUNT(*) FROM events WHERE type = 'episode_end'").fetchone()[0]
    assert ends == 2
    assert all(set(s["actions"]) == {"human", "ai"} for s in steps)
    every = 1 if variant == "argmax" else 2
    for s in steps:  # the policy decides at steps 1, 1 + k, 1 + 2k, ... of each episode
        assert s["policy_agents"] == (["ai"] if (s["step"] - 1) % every == 0 else []), s
    decided = [s["policy_ms"] for s in steps if s["policy_agents"]]
    assert all(s["policy_ms"] == 0 for s in steps if not s["policy_agents"])  # no model ran, none timed
    assert 0 < sum(decided) and max(decided) < 1000  # the model's runs are timed, in milliseconds


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


def test_sampled_ai_actions_follow_the_seed_and_the_episode(played_twin):
    """Checked against the documented rule itself, so a wrong seeding in the shared Python code is caught too:
    each episode's draws come from numpy's default_rng([seed, episode]), one uniform draw per decision."""
    variant, bundle, db, _ = played_twin
    if variant == "argmax":
        pytest.skip("argmax does not sample")
    seed = VARIANTS[variant].seed
    episodes = logged_episodes(SQLiteEventStore(db).iter_events())
    assert [e.episode for e in episodes] == [0, 1]
    draws_differ = []
    with open_bundle(bundle) as game:
        for logged in episodes:
            session, policies = game.session(logged.game), game.native_policies(logged.game)
            session.reset(logged.seed, logged.episode)
            draws = np.random.default_rng([seed, logged.episode])
            for logged_step in sorted(logged.steps, key=lambda s: s.step):
                outputs = policies.run(session.policy_requests())
                if "ai" in outputs:
                    spec = game.games[logged.game]["players"]["ai"]
                    logits = [float(x) for x in outputs["ai"][spec.get("logits") or spec["outputs"][0]].reshape(-1)]
                    uniform = float(draws.random())
                    expected = sample_logits(logits, uniform)
                    assert logged_step.actions["ai"] == expected, (logged.episode, logged_step.step)
                    draws_differ.append(expected != int(np.argmax(logits)))
                humans = {agent: action for agent, action in logged_step.actions.items() if agent != "ai"}
                assert session.step(humans, outputs)["actions"] == logged_step.actions
    assert any(draws_differ)  # some draws picked another action than argmax: the sampling itself was exercised
