"""The Slime Volleyball example against the reference slimevolleygym package, natively: physics and the baseline."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

SLIME = Path(__file__).resolve().parents[1] / "examples" / "slime_volleyball"
sys.path.insert(0, str(SLIME))
from convert_baseline import check_against_reference, import_reference  # noqa: E402
from slime import ACTIONS, SlimeVolleyball  # noqa: E402

reference = import_reference()


@pytest.mark.parametrize("seed", [3, 17])
def test_ball_and_players_match_the_reference_for_a_fixed_action_sequence(seed):
    env = SlimeVolleyball(max_steps=10**6)
    env.reset(seed=seed)
    game = reference.Game(np_random=np.random.default_rng(seed))  # the same generator gymnasium seeds
    actions = np.random.default_rng(100 + seed).integers(0, len(ACTIONS), size=(4000, 2))
    points = 0
    for step, (left, right) in enumerate(actions):
        game.agent_left.setAction(list(ACTIONS[left]))
        game.agent_right.setAction(list(ACTIONS[right]))
        result = game.step()
        _, rewards, _, _, _ = env.step({"left": left, "right": right})
        points += result != 0
        assert rewards["right"] == result, f"step {step}: reference scored {result}, ours {rewards}"
        for name, ours, theirs in (
            ("ball", env.ball, game.ball),
            ("left", env.left, game.agent_left),
            ("right", env.right, game.agent_right),
        ):
            assert (ours.x, ours.y, ours.vx, ours.vy) == (theirs.x, theirs.y, theirs.vx, theirs.vy), (
                f"{name} at step {step}"
            )
        assert env.lives() == {"left": game.agent_left.life, "right": game.agent_right.life}
    assert points > 20  # the sequence covers many serves, bounces and points


def test_the_onnx_baseline_chooses_what_the_published_policy_chooses():
    assert (
        check_against_reference(SLIME / "policies" / "slime_baseline.onnx", reference.BaselinePolicy, steps=2000)
        == 2000
    )
