"""ONNX players natively: build-time tensor checks, act_every, recurrent state, sampling."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import CARTPOLE, environment_with, gymcast_command
from gymcast import Experiment, Human, OnnxPolicy, RandomPolicy
from gymcast.native_policies import NativePolicies
from gymcast_runtime import GameSession
from gymcast_runtime.policies import OnnxPlayer, sample_logits
from onnx_models import linear_model, swapping_recurrent_model


@pytest.fixture(autouse=True)
def example_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(CARTPOLE))


def ai_game(tmp_path: Path, policy: OnnxPolicy | RandomPolicy) -> dict:
    return (
        Experiment("ai")
        .environment(env_creator="twin:make_twin_cartpole")
        .players({"human": Human(keys={"a": 0}), "ai": policy})
        .gameplay(max_steps=20)
        .to_manifest()
    )


def native(game: dict, root: Path) -> NativePolicies:
    policies = NativePolicies(game, lambda spec: root / spec["model"])
    for agent in policies.sessions:
        game["players"][agent].update(policies.tensor_names(agent))
    return policies


def play(game: dict, policies: NativePolicies, steps: int) -> list[dict]:
    session = GameSession(game)
    session.reset(seed=1)
    records = []
    for _ in range(steps):
        requests = session.policy_requests()
        record = session.step({"human": 0}, policies.run(requests))
        record["requested"] = [r["agent"] for r in requests]
        records.append(record)
        if record["terminated"] or record["truncated"]:
            break
    return records


def test_act_every_decides_every_k_steps_and_repeats_in_between(tmp_path):
    linear_model(tmp_path / "m.onnx", 4, 2)
    game = ai_game(tmp_path, OnnxPolicy("m.onnx", act_every=3))
    records = play(game, native(game, tmp_path), 7)
    assert [bool(r["requested"]) for r in records] == [True, False, False, True, False, False, True]
    assert records[1]["actions"]["ai"] == records[0]["actions"]["ai"] == records[2]["actions"]["ai"]


def test_recurrent_state_is_carried_between_decisions(tmp_path):
    swapping_recurrent_model(tmp_path / "r.onnx")
    game = ai_game(tmp_path, OnnxPolicy("r.onnx", recurrent={"input": "h_in", "output": "h_out", "shape": [1, 2]}))
    records = play(game, native(game, tmp_path), 4)
    assert [r["actions"]["ai"] for r in records] == [0, 1, 0, 1]


def sampled(seed: int, episode: int, draws: int = 64) -> list[int]:
    """An ONNX player's sampled actions in `episode`, over even logits (every draw matters)."""
    player = OnnxPlayer("ai", {"seed": seed, "action": "sample", "inputs": ["obs"], "outputs": ["logits"]})
    player.reset(episode)
    return [player.choose({"logits": np.zeros((1, 2))}) for _ in range(draws)]


def test_sampling_is_seeded_per_episode():
    logits = [0.2, 0.1]
    assert sample_logits(logits, 0.0) == 0 and sample_logits(logits, 0.999) == 1
    assert sample_logits([0.0, 0.0, 50.0], 0.5) == 2
    assert sampled(3, 1) == sampled(3, 1)  # episode k of a seed always draws the same
    assert len({tuple(sampled(3, episode)) for episode in range(4)}) == 4  # each episode draws afresh
    assert sampled(3, 1) != sampled(4, 1)
    assert sampled(3, 1) != sampled(4, 0) and sampled(3, 0) != sampled(0, 3)  # (seed, episode), not seed + episode
    assert sampled(3, 2) == [sample_logits([0.0, 0.0], u) for u in np.random.default_rng([3, 2]).random(64)]


def test_sampled_actions_repeat_with_the_same_seed_and_differ_with_another(tmp_path):
    linear_model(tmp_path / "m.onnx", 4, 2, seed=5)
    runs = []
    for seed in (1, 1, 2):
        game = ai_game(tmp_path, OnnxPolicy("m.onnx", action="sample", seed=seed))
        runs.append([r["actions"]["ai"] for r in play(game, native(game, tmp_path), 8)])
    assert runs[0] == runs[1] != runs[2]


def test_random_players_are_seeded(tmp_path):
    game = ai_game(tmp_path, RandomPolicy(seed=4))
    first, second = ([r["actions"]["ai"] for r in play(game, native(game, tmp_path), 8)] for _ in range(2))
    assert first == second and set(first) == {0, 1}


def misshaped_experiment(tmp_path: Path, inputs: int, outputs: int) -> Path:
    folder = tmp_path / "experiment"
    shutil.copytree(CARTPOLE, folder, ignore=shutil.ignore_patterns("__pycache__", "policies"))
    linear_model(folder / "policies" / "cartpole_mlp.onnx", inputs, outputs)
    return folder / "human_and_ai.py"


@pytest.mark.parametrize(
    ("inputs", "outputs", "words"),
    [
        (5, 2, "input tensor 'obs' expects shape ['any', 5], but preprocess gives [1, 4]"),
        (4, 3, "output tensor 'logits' has shape [1, 3], but the env's action space Discrete(2) needs 2 logits"),
    ],
)
def test_a_misshaped_model_fails_the_build_naming_policy_tensor_and_shapes(
    cartpole_bundle, tmp_path, inputs, outputs, words
):
    result = subprocess.run(
        gymcast_command("build", str(misshaped_experiment(tmp_path, inputs, outputs)), "-o", str(tmp_path / "out")),
        capture_output=True,
        text=True,
        env=environment_with(COLUMNS="400"),
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "players['ai']" in message and words in message
    assert not (tmp_path / "out").exists()


def test_a_missing_model_file_names_the_field(tmp_path):
    from gymcast import ConfigError

    game = ai_game(tmp_path, OnnxPolicy("nope.onnx"))
    with pytest.raises(ConfigError) as caught:
        native(game, tmp_path)
    assert caught.value.field == "players['ai'].model" and "does not exist" in str(caught.value)


def reversed_observation(observation):
    """A custom preprocess: the model sees the observation reversed, with a batch axis."""
    import numpy as np

    return {"obs": np.asarray(observation[::-1], dtype=np.float32)[None]}


def test_a_custom_preprocess_feeds_the_model(tmp_path):
    linear_model(tmp_path / "m.onnx", 4, 2)
    game = ai_game(tmp_path, OnnxPolicy("m.onnx", preprocess=f"{__name__}:reversed_observation"))
    policies = native(game, tmp_path)
    session = GameSession(game)
    session.reset(seed=1)
    (request,) = session.policy_requests()
    observation = session.adapter.observation("ai")
    assert request["feeds"]["obs"].tolist() == [[float(x) for x in observation[::-1].astype("float32")]]
    assert session.step({"human": 0}, policies.run([request]))["actions"]["ai"] in (0, 1)
