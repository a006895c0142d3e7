"""The warm-up the worker runs before Start (`gymcast_runtime.loading.WarmUp`), natively: it plays each
game on its own env, one step per call, and leaves the global random states as it found them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gymcast import Experiment, Human
from gymcast_runtime.loading import WarmUp, in_turn

#: an env that draws from the global `random` and `numpy.random` generators, as some envs do (cogrid's recipes)
GLOBAL_RNG_ENV = """
import random

import gymnasium
import numpy as np


class GlobalRngEnv(gymnasium.Env):
    observation_space = gymnasium.spaces.Box(0.0, 1.0, (2,))
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        return np.array([random.random(), np.random.random()], dtype=np.float32), {}

    def step(self, action):
        obs = np.array([random.random(), np.random.random()], dtype=np.float32)
        return obs, 1.0, bool(obs[0] > 0.95), False, {}


def make():
    return GlobalRngEnv()


def draw(env):
    return np.zeros((4, 4, 3), dtype=np.uint8)
"""


@pytest.fixture
def global_rng_game(tmp_path, monkeypatch) -> dict:
    (tmp_path / "global_rng_env.py").write_text(textwrap.dedent(GLOBAL_RNG_ENV))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield (
        Experiment("global_rng")
        .environment(env_creator="global_rng_env:make")
        .players({"player": Human(keys={"ArrowLeft": 0, "ArrowRight": 1})})
        .rendering(frame_fn="global_rng_env:draw")
        .to_manifest()
    )
    sys.modules.pop("global_rng_env", None)


#: Run in an interpreter of its own: a thread another test left in pytest's process may draw from `random`.
UNDISTURBED = """
import json, random, sys

import numpy as np

from gymcast_runtime.loading import WarmUp

game = json.loads(sys.stdin.read())
random.seed(7)
np.random.seed(7)
expected = random.random(), np.random.random()
random.seed(7)
np.random.seed(7)
warm = WarmUp([game], 40)
while warm.step_json() is not None:
    pass
print(json.dumps({"steps": warm.steps_played, "drawn": [random.random(), np.random.random()], "expected": expected}))
"""


def test_each_step_leaves_the_global_random_states_as_they_were(global_rng_game, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", UNDISTURBED],
        input=json.dumps(global_rng_game),
        capture_output=True,
        text=True,
        cwd=tmp_path,  # where global_rng_env.py is
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])},
        check=True,
    )
    outcome = json.loads(result.stdout)
    assert outcome["steps"] == 40
    assert outcome["drawn"] == outcome["expected"]


def test_every_game_plays_its_steps_then_it_is_done(global_rng_game):
    warm = WarmUp([global_rng_game, global_rng_game], 5)
    requests = [warm.step_json() for _ in range(10)]
    assert [json.loads(r) for r in requests] == [[]] * 10  # no ONNX players, so no model requests
    assert warm.step_json() is None and warm.steps_played == 10


def test_the_games_take_turns_so_that_each_plays_its_first_step_first():
    assert list(in_turn([iter("ab"), iter(""), iter("xyz")])) == ["a", "x", "b", "y", "z"]
