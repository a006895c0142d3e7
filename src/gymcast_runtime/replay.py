"""Replays logged episodes in a `GameSession` and compares each with its log.

The same code runs in the bundle's Pyodide under Node (`gymcast replay`'s default, exact: the
browser's own interpreter and wheels) and natively (`--native`, `--check-policies`). An episode is
plain JSON: `{game, seed, episode, start_hash, ended, steps: [{step, actions, rewards, terminated,
truncated, obs_hash}], error: {step, message} | null}`. Its result is `{status, step, detail, observations}`,
where status is "match", "diverged" (at `step`), "partial" (every logged step matched, but the log ends
before the episode did), "error" (every logged step matched, and the study's code raised at `step`) or
"incomplete" (a step is missing from the log).
"""

from __future__ import annotations

import json
from typing import Any

from gymcast_runtime.loading import game_modules, preload
from gymcast_runtime.session import GameSession, to_json_value


def replay_episode(
    session: GameSession, episode: dict[str, Any], keep_observations: bool = False, policies: Any = None
) -> dict[str, Any]:
    """Re-run `episode` in `session` from its seed and actions, checking every logged hash, reward and flag.

    With `policies` (an object whose `run(requests)` returns model outputs, e.g. native onnxruntime),
    AI players choose their actions again instead of taking them from the log, and each must equal
    the logged action. `observations` (JSON values, the reset's first) is filled when asked for.
    """
    observations: list[Any] | None = [] if keep_observations else None

    def result(status: str, step: int | None = None, detail: str = "") -> dict[str, Any]:
        return {"status": status, "step": step, "detail": detail, "observations": observations}

    step = 0
    try:
        reset = session.reset(episode["seed"], episode["episode"])
        if episode.get("start_hash") is not None and reset["obs_hash"] != episode["start_hash"]:
            return result(
                "diverged", 0, f"the reset observation hash {reset['obs_hash']} != logged {episode['start_hash']}"
            )
        if observations is not None:
            observations.append(to_json_value(session.observation))
        for step, logged in enumerate(sorted(episode["steps"], key=lambda s: s["step"]), start=1):
            if logged["step"] != step:
                return result("incomplete", step, f"step {step} is missing from the log")
            if policies is None:
                record = session.step(logged["actions"])
            else:
                humans = {a: v for a, v in logged["actions"].items() if a not in session.ai}
                record = session.step(humans, policies.run(session.policy_requests()))
                if record["actions"] != logged["actions"]:
                    return result(
                        "diverged", step, f"native AI actions {record['actions']} != logged {logged['actions']}"
                    )
            if observations is not None:
                observations.append(to_json_value(session.observation))
            problem = difference(record, logged)
            if problem:
                return result("diverged", step, problem)
    except Exception as error:  # the env's own code can raise anything; the browser did not
        return result("diverged", step, f"the env raised {type(error).__name__}: {error}")
    if not episode["ended"]:
        count = len(episode["steps"])
        error = episode.get("error")
        if error:
            detail = f"matched the {count} logged steps; then the game raised: {error['message']}"
            return result("error", error["step"], detail + reraised(session, error, count))
        return result("partial", None, f"matched the {count} logged steps; the log ends there (the participant left?)")
    return result("match")


def reraised(session: GameSession, error: dict[str, Any], played: int) -> str:
    """Whether the failing step, replayed with its logged actions, raises too: a clause for the detail ("" when it
    cannot be checked: the error came outside a step, or AI players chose actions the log does not hold)."""
    actions = error.get("actions")
    if error["step"] != played + 1 or not actions or session.ai:
        return ""
    where = f"; replaying step {error['step']} with its logged actions"
    try:
        session.step(actions)
    except Exception as raised:  # the env's own code can raise anything
        return f"{where} raises {type(raised).__name__}: {raised}"
    return f"{where} does not raise, so the error did not come from the env's step (or the log was altered)"


def difference(record: dict[str, Any], logged: dict[str, Any]) -> str:
    """What differs between a replayed step's record and the logged step, or ""."""
    if logged.get("obs_hash") is not None and record.get("obs_hash") != logged["obs_hash"]:
        return f"observation hash {record.get('obs_hash')} != logged {logged['obs_hash']}"
    if record["rewards"] != logged["rewards"]:
        return f"rewards {record['rewards']} != logged {logged['rewards']}"
    if (record["terminated"], record["truncated"]) != (logged["terminated"], logged["truncated"]):
        return (
            f"terminated/truncated {record['terminated']}/{record['truncated']} != "
            f"logged {logged['terminated']}/{logged['truncated']}"
        )
    return ""


def replay_all_json(games_json: str, request_json: str) -> str:
    """Replay every episode of `{"episodes": [...], "keep_observations": bool}` in the games of `games_json`
    (the manifest's `games`), one session per game, as the worker makes them; the results as a JSON list."""
    games = json.loads(games_json)
    request = json.loads(request_json)
    preload(game_modules(games))
    sessions: dict[str, GameSession] = {}
    results = []
    for episode in request["episodes"]:
        key = episode["game"]
        if key not in sessions:
            sessions[key] = GameSession(games[key])
        results.append(replay_episode(sessions[key], episode, request.get("keep_observations", False)))
    return json.dumps(results)
