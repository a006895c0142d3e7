"""The Python runtime that runs in Pyodide, exercised natively: episodes, hashes, frames, truncation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gymcast import Experiment, Human
from gymcast_runtime import GameSession, SessionConfigError
from gymcast_runtime.bridge import WorkerGame
from gymcast_runtime.hashing import state_hash


def cartpole_game(max_steps=None, players=None) -> dict:
    game = (
        Experiment("cartpole")
        .environment(env_id="CartPole-v1")
        .players(players or {"player": Human(keys={"ArrowLeft": 0, "ArrowRight": 1})})
        .rendering(frame_fn="frames:draw_cartpole")
        .gameplay(max_steps=max_steps)
        .to_manifest()
    )
    return game


@pytest.fixture(autouse=True)
def example_on_path(monkeypatch):
    from conftest import CARTPOLE

    monkeypatch.syspath_prepend(str(CARTPOLE))


def test_same_seed_and_actions_give_the_same_hashes():
    runs = []
    for _ in range(2):
        session = GameSession(cartpole_game())
        hashes = [session.reset(seed=11)["obs_hash"]]
        hashes += [session.step({"player": i % 2})["obs_hash"] for i in range(20)]
        runs.append(hashes)
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == len(runs[0])


def test_different_seeds_give_different_starts():
    session = GameSession(cartpole_game())
    assert session.reset(seed=1)["obs_hash"] != session.reset(seed=2)["obs_hash"]


def test_max_steps_truncates_the_episode():
    session = GameSession(cartpole_game(max_steps=3))
    session.reset(seed=0)
    flags = [session.step({"player": i % 2})["truncated"] for i in range(3)]
    assert flags == [False, False, True]


def test_step_reports_rewards_per_agent_and_json_round_trips():
    game = WorkerGame(json.dumps(cartpole_game()))
    game.reset_json(5)
    result = json.loads(game.step_json('{"player": 1}'))
    assert result["rewards"] == {"player": 1.0}
    assert result["step"] == 1


def test_a_missing_action_names_the_agent():
    session = GameSession(cartpole_game())
    session.reset(seed=0)
    with pytest.raises(SessionConfigError, match="no action for agent 'player'"):
        session.step({"other": 0})


def test_frames_are_rgb_and_show_the_cart():
    game = WorkerGame(json.dumps(cartpole_game()))
    game.reset_json(0)
    height, width, channels, data = game.frame_bytes()
    frame = np.frombuffer(data, dtype=np.uint8).reshape(height, width, channels)
    assert (height, width, channels) == (200, 300, 3)
    dark = (frame < 80).all(axis=2)
    assert dark[130:150, 130:170].sum() > 100  # the cart sits mid-track


def test_state_hash_distinguishes_dtype_shape_and_structure():
    assert state_hash(np.zeros(2, np.float32)) != state_hash(np.zeros(2, np.float64))
    assert state_hash(np.arange(3, dtype=np.int32)) == state_hash(np.arange(3, dtype=np.int64))  # wasm32 vs native
    assert state_hash(np.arange(3, dtype=np.int64)) != state_hash(np.arange(3, dtype=np.uint64))
    assert state_hash(np.zeros((2, 1))) != state_hash(np.zeros((1, 2)))
    assert state_hash({"a": 1, "b": 2}) == state_hash({"b": 2, "a": 1})
    assert state_hash((1, 2)) != state_hash((2, 1))


class RecordingCallback:
    """Test callback: every hook returns what it saw."""

    def on_episode_start(self, env, episode, seed):
        return {"episode": episode, "seed": seed}

    def on_step(self, env, actions, result):
        return {"seen_action": actions["player"], "seen_step": result["step"]}

    def on_episode_end(self, env, episode, returns):
        return {"returns": returns}

    def on_page(self, what):
        return {"page": what}


class BadCallback(RecordingCallback):
    def on_step(self, env, actions, result):
        return {"not json": object()}


def test_callbacks_add_custom_fields_to_every_record():
    game = cartpole_game()
    game["callbacks"] = f"{__name__}:RecordingCallback"
    session = GameSession(game)
    assert session.reset(seed=4, episode=2)["custom"] == {"episode": 2, "seed": 4}
    assert session.step({"player": 1})["custom"] == {"seen_action": 1, "seen_step": 1}
    assert session.end_episode({"player": 1.0}) == {"custom": {"returns": {"player": 1.0}}}
    assert session.page("hidden") == {"custom": {"page": "hidden"}}


def test_a_callback_returning_unloggable_fields_names_the_hook():
    game = cartpole_game()
    game["callbacks"] = f"{__name__}:BadCallback"
    session = GameSession(game)
    session.reset(seed=0)
    with pytest.raises(TypeError, match="callback on_step returned fields that cannot be logged as JSON"):
        session.step({"player": 0})


def test_the_build_check_names_the_callbacks_field():
    from gymcast import ConfigError
    from gymcast.bundler.native_check import check_game_natively

    game = cartpole_game()
    game["callbacks"] = f"{__name__}:BadCallback"
    with pytest.raises(ConfigError) as caught:
        check_game_natively(game)
    assert caught.value.field == "callbacks"
    game["callbacks"] = f"{__name__}:NoSuchCallback"
    with pytest.raises(ConfigError, match="could not be imported"):
        check_game_natively(game)


def test_hash_every_logs_hashes_on_schedule_and_at_the_end():
    game = cartpole_game(max_steps=7)
    game["logging"] = {"hash_every": 3, "observations": True}
    session = GameSession(game)
    assert "obs" in session.reset(seed=0)
    records = [session.step({"player": i % 2}) for i in range(7)]
    assert [r["step"] for r in records if "obs_hash" in r] == [3, 6, 7]
    assert all(len(r["obs"]) == 4 for r in records)
