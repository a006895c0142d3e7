"""The multiplayer config and env snapshots, natively: clear errors, and state that round-trips."""

from __future__ import annotations

import json
import threading

import gymnasium
import pytest

from gymcast import ConfigError, Experiment, Human, OnnxPolicy, RandomPolicy
from gymcast.bundler.native_check import check_game_natively
from gymcast_runtime import GameSession
from gymcast_runtime.bridge import played_alone_json
from gymcast_runtime.env_state import StateError, save_state

KEYS = {"ArrowLeft": 0, "ArrowRight": 1}


@pytest.fixture(autouse=True)
def example_on_path(monkeypatch):
    from conftest import CARTPOLE

    monkeypatch.syspath_prepend(str(CARTPOLE))


def duo(**rules) -> Experiment:
    return (
        Experiment("duo")
        .environment(env_creator="twin:make_twin_cartpole", env_kwargs={"agents": ["top", "bottom"]})
        .players({"top": Human(keys=KEYS), "bottom": Human(keys=KEYS)})
        .rendering(frame_fn="twin:draw_twins")
        .multiplayer(**rules)
    )


def test_ai_rules_need_a_fallback_for_every_seat():
    with pytest.raises(ConfigError) as error:
        duo(on_dropout="ai", fallbacks={"top": RandomPolicy()}).games()
    assert "multiplayer.on_dropout" in str(error.value) and "['bottom']" in str(error.value)


def test_fallbacks_must_name_human_seats():
    with pytest.raises(ConfigError) as error:
        duo(fallbacks={"ghost": RandomPolicy()}).games()
    assert "multiplayer.fallbacks['ghost']" in str(error.value) and "not a Human seat" in str(error.value)


def test_bad_rules_name_the_field():
    with pytest.raises(ConfigError, match="multiplayer.on_timeout"):
        duo(on_timeout="wait forever")
    with pytest.raises(ConfigError, match="multiplayer.fallbacks\\['top'\\]"):
        duo(fallbacks={"top": Human(keys=KEYS)})
    with pytest.raises(ConfigError, match="multiplayer.timeout_redirect"):
        duo(timeout_redirect="prolific.com")


def test_networked_games_cannot_pause_for_one_player():
    with pytest.raises(ConfigError, match="controls.pause"):
        duo().controls(pause=True).games()


def test_a_game_with_one_human_is_not_networked():
    experiment = duo().players({"top": Human(keys=KEYS), "bottom": OnnxPolicy(model="policies/cartpole_mlp.onnx")})
    assert experiment.games()["main"]["multiplayer"] is None


def test_playing_alone_gives_the_other_seats_to_their_fallbacks_and_leaves_the_relay():
    game = duo(on_timeout="ai", fallbacks={"top": RandomPolicy(), "bottom": RandomPolicy()}).games()["main"]
    alone = json.loads(played_alone_json(json.dumps(game), json.dumps(["bottom"])))
    assert alone["players"] == {"top": game["players"]["top"], "bottom": game["multiplayer"]["fallbacks"]["bottom"]}
    assert (
        alone["multiplayer"] is None
        and {**alone, "players": game["players"], "multiplayer": game["multiplayer"]} == game
    )
    assert list(alone) == list(game)  # the same keys in the same order as the browser's config


def test_snapshots_restore_the_whole_game():
    session = GameSession(duo().games()["main"])
    session.reset(seed=3)
    for step in range(5):
        session.step({"top": step % 2, "bottom": 1})
    blob = session.snapshot()
    expected = [session.step({"top": 1, "bottom": 0})["obs_hash"] for _ in range(5)]
    other = GameSession(duo().games()["main"])
    other.reset(seed=99)  # a different state, then the snapshot
    assert other.restore(blob)["step"] == 5
    assert [other.step({"top": 1, "bottom": 0})["obs_hash"] for _ in range(5)] == expected


class LockedEnv(gymnasium.Env):
    observation_space = gymnasium.spaces.Discrete(2)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self):
        self.lock = threading.Lock()


def test_an_unpicklable_env_attribute_is_named():
    with pytest.raises(StateError) as error:
        save_state({"env": LockedEnv()})
    assert "LockedEnv.lock" in str(error.value) and "get_state()" in str(error.value)


def test_the_build_check_refuses_an_env_whose_state_does_not_restore():
    game = duo().games()["main"]
    game["env"] = {"id": None, "creator": "test_multiplayer_config:forgetful_env", "kwargs": {}}
    with pytest.raises(ConfigError) as error:
        check_game_natively(game)
    assert "does not continue the same way" in str(error.value)


def forgetful_env():
    """A twin CartPole whose get_state/set_state keep nothing."""
    from twin import TwinCartPole

    class Forgetful(TwinCartPole):
        def get_state(self):
            return None

        def set_state(self, state):
            pass

    return Forgetful(agents=("top", "bottom"))
