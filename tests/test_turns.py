"""Turn-based play natively: the AEC adapter, action masks for every AI player, legal-move checks,
clicks, and the builder's turn-mode rules."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gymcast import Experiment, Human, RandomPolicy
from gymcast.experiment.errors import ConfigError
from gymcast_runtime.envs import AECAgentsEnv, adapt
from gymcast_runtime.input import grid_click
from gymcast_runtime.policies import OnnxPlayer, PythonPlayer, RandomPlayer
from gymcast_runtime.session import GameSession, SessionConfigError

CONNECT_FOUR = Path(__file__).resolve().parents[1] / "examples" / "connect_four"
sys.path.insert(0, str(CONNECT_FOUR))

from board import ConnectFour  # noqa: E402


def game(players: dict, **gameplay) -> dict:
    config = {
        "env": {"id": None, "creator": "board:make_connect_four", "kwargs": {}},
        "players": players,
        "rendering": {
            "fps": 30,
            "width": 560,
            "height": 520,
            "objects_fn": "view:draw_board",
            "click_fn": "view:click_column",
        },
        "gameplay": {"num_episodes": 1, "max_steps": None, "input_mode": "turns", "seed": 0, **gameplay},
    }
    return config


HUMAN = {"type": "human", "keys": {"1": 0}, "default_action": None, "action_buffer": 1}


def test_an_aec_env_is_adapted_as_turns_not_as_a_parallel_env():
    adapter = adapt(ConnectFour(), ["red", "yellow"])
    assert isinstance(adapter, AECAgentsEnv)
    with pytest.raises(ValueError, match="have no player"):
        adapt(ConnectFour(), ["red"])


def test_players_alternate_and_only_the_mover_acts():
    session = GameSession(game({"red": HUMAN, "yellow": HUMAN}))
    session.reset(0)
    assert session.turn() == {"to_move": ["red"], "masks": {"red": [1] * 7}}
    assert session.is_legal("red", 3) and not session.is_legal("yellow", 3) and not session.is_legal("red", 7)
    record = session.step({"red": 3})
    assert record["actions"] == {"red": 3} and session.to_move() == ["yellow"]
    with pytest.raises(SessionConfigError, match="no action for agent 'yellow'"):
        session.step({"red": 3})
    for _ in range(5):
        session.step({session.to_move()[0]: 3})
    assert session.action_mask(session.to_move()[0]) == [1, 1, 1, 0, 1, 1, 1]
    assert not session.is_legal(session.to_move()[0], 3)


def test_a_win_ends_the_episode_with_rewards_for_both():
    session = GameSession(game({"red": HUMAN, "yellow": HUMAN}))
    session.reset(0)
    for column in [0, 1, 0, 1, 0, 1]:
        assert not session.step({session.to_move()[0]: column})["terminated"]
    record = session.step({"red": 0})
    assert record["terminated"] and not record["truncated"]
    assert record["rewards"] == {"red": 1.0, "yellow": -1.0}


def test_a_random_player_plays_only_legal_moves():
    session = GameSession(game({"red": HUMAN, "yellow": {"type": "random", "seed": 0}}))
    for seed in range(5):
        session.reset(seed)
        while True:
            record = session.step({"red": session.action_mask("red").index(1)} if session.to_move() == ["red"] else {})
            if record["terminated"] or record["truncated"]:
                break
    player = RandomPlayer("a", {"seed": 1}, session.adapter.action_space("red"))
    player.reset(0)
    assert {player.act(None, [0, 0, 1, 0, 0, 0, 0]) for _ in range(50)} == {2}


def test_onnx_logits_of_illegal_actions_are_masked_for_argmax_and_sampling():
    for action in ("argmax", "sample"):
        player = OnnxPlayer("a", {"model": "m.onnx", "inputs": ["x"], "outputs": ["logits"], "action": action})
        logits = {"logits": np.array([[9.0, 8.0, 0.0, 1.0]], dtype=np.float32)}
        assert {player.choose(logits, [0, 0, 1, 1]) for _ in range(40)} <= {2, 3}
        assert player.choose(logits, [0, 0, 1, 0]) == 2


class MaskAware:
    def act(self, observation, action_mask=None):
        return action_mask.index(1)


class Stubborn:
    def act(self, observation):
        return 3


def test_a_python_policy_gets_the_mask_when_it_asks_and_may_not_play_an_illegal_move(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "MaskAware", MaskAware, raising=False)
    aware = PythonPlayer("a", {"policy": f"{__name__}:MaskAware"})
    assert aware.takes_mask and aware.act({}, [0, 0, 1]) == 2
    session = GameSession(game({"red": HUMAN, "yellow": {"type": "python", "policy": f"{__name__}:Stubborn"}}))
    session.reset(0)
    for _ in range(3):
        session.step({"red": 3})
        session.step({})
    session.step({"red": 0})  # red leaves column 3 to yellow... which is full after 6 discs
    with pytest.raises(SessionConfigError, match="forbids"):
        session.step({})


def test_clicks_become_columns():
    session = GameSession(game({"red": HUMAN, "yellow": HUMAN}))
    session.reset(0)
    assert [session.click(x, 100) for x in (0, 79, 80, 559)] == [0, 0, 1, 6]
    assert session.click(100, 500) is None  # below the board
    assert grid_click(250, 130, 3, 3, 300, 300) == 5 and grid_click(-1, 0, 3, 3, 300, 300) is None


def test_default_action_none_is_allowed_only_in_turn_based_play():
    players = {"player": Human(keys={"ArrowLeft": 0}, default_action=None)}
    experiment = Experiment("lake").environment(env_id="FrozenLake-v1").players(players)
    with pytest.raises(ConfigError, match=r"players\['player'\]\.default_action.*input_mode=\"turns\""):
        experiment.to_manifest()
    manifest = experiment.gameplay(input_mode="turns", ai_think_ms=300).to_manifest()
    assert manifest["gameplay"]["input_mode"] == "turns" and manifest["gameplay"]["ai_think_ms"] == 300
    with pytest.raises(ConfigError, match="gameplay.ai_think_ms"):
        experiment.gameplay(ai_think_ms=300)
    assert (
        "ai_think_ms"
        not in Experiment("x")
        .environment(env_id="CartPole-v1")
        .players({"p": RandomPolicy()})
        .to_manifest()["gameplay"]
    )


def test_a_networked_turn_game_without_default_actions_needs_another_dropout_rule():
    players = {"red": Human(keys={"1": 0}, default_action=None), "yellow": Human(keys={"1": 0}, default_action=None)}
    experiment = (
        Experiment("board")
        .environment(env_creator="board:make_connect_four")
        .players(players)
        .gameplay(input_mode="turns")
        .multiplayer()
    )
    with pytest.raises(ConfigError, match=r"multiplayer.on_dropout.*on_dropout=\"ai\""):
        experiment.to_manifest()
    assert experiment.multiplayer(on_dropout="end").to_manifest()["multiplayer"]["on_dropout"] == "end"
