"""Replay of an episode that ended by an error (issue 16, item 3), natively: the logged prefix matches, the error
step is reported, and replaying that step with its logged actions tells a genuine error from a claimed one."""

from __future__ import annotations

from pathlib import Path

from gymcast.experiment.loader import load_experiment
from gymcast_runtime.replay import replay_episode
from gymcast_runtime.session import GameSession

CRASH = Path(__file__).resolve().parent / "fixtures" / "experiments" / "crash"


def episode(error_step: int) -> dict:
    """Steps 1..19 of the crash fixture's episode (seed 7, the action 1 each step) and an error at `error_step`."""
    steps = [
        {"step": n, "actions": {"player": 1}, "rewards": {"player": 1.0}, "terminated": False, "truncated": False}
        for n in range(1, 20)
    ]
    error = {"step": error_step, "message": "RuntimeError: the env broke at step 20", "actions": {"player": 1}}
    return {"seed": 7, "episode": 0, "start_hash": None, "ended": False, "steps": steps, "error": error}


def session() -> GameSession:
    (config,) = load_experiment(CRASH).experiment.games().values()
    return GameSession(config)


def test_an_error_step_is_reported_and_reproduced():
    result = replay_episode(session(), episode(20))
    assert (result["status"], result["step"]) == ("error", 20)
    assert result["detail"] == (
        "matched the 19 logged steps; then the game raised: RuntimeError: the env broke at step 20; replaying "
        "step 20 with its logged actions raises RuntimeError: the env broke at step 20"
    )


def test_an_error_the_env_does_not_raise_is_called_out():
    played = episode(20)
    played["seed"] = 8  # the env raises only for seed 7: this log claims an error the env does not make
    for step in played["steps"]:
        step["obs_hash"] = None
    result = replay_episode(session(), played)
    assert result["status"] == "error" and "does not raise, so the error did not come from the env" in result["detail"]
