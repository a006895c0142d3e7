"""The JavaScript worker's side of the Python runtime: JSON text in and out, states as base64, frames as bytes.

The worker (`browser_runtime/js/run.js`, `netplay.js`) calls a `WorkerGame` once per tick; native code
(build checks, replay) uses `GameSession`'s typed methods. Both share every line of env logic.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from gymcast_runtime.configs import played_alone
from gymcast_runtime.draw import objects_json
from gymcast_runtime.session import GameSession


class WorkerGame:
    """A `GameSession` for the worker: each method is a typed `GameSession` method with JSON in and out.

    Args:
        config_json: the game config (a bundle manifest's `games` entry) as JSON text.
    """

    def __init__(self, config_json: str) -> None:
        self.session = GameSession(json.loads(config_json))

    def reset_json(self, seed: int, episode: int = 0) -> str:
        """`reset`, answered as JSON."""
        return json.dumps(self.session.reset(int(seed), int(episode)))

    def step_json(self, actions_json: str, outputs_json: str = "{}") -> str:
        """`step` with actions and model outputs ({agent: {name: {shape, data}}}) as JSON, answered as JSON."""
        return json.dumps(self.session.step(json.loads(actions_json), outputs_from_json(outputs_json)))

    def policy_requests_json(self) -> str:
        """`policy_requests` as JSON: each feed as {shape, data} of float32 values."""
        return requests_to_json(self.session.policy_requests())

    def fallback_requests_json(self, agents_json: str) -> str:
        """`fallback_requests` for a JSON list of agents, answered like `policy_requests_json`."""
        return requests_to_json(self.session.fallback_requests(json.loads(agents_json)))

    def fallback_actions_json(self, agents_json: str, outputs_json: str = "{}") -> str:
        """`fallback_actions` with JSON in and out."""
        return json.dumps(self.session.fallback_actions(json.loads(agents_json), outputs_from_json(outputs_json)))

    def turn_json(self) -> str:
        """`turn`, answered as JSON."""
        return json.dumps(self.session.turn())

    def is_legal_json(self, agent: str, action_json: str) -> bool:
        """`is_legal` with the action as JSON."""
        return self.session.is_legal(str(agent), json.loads(action_json))

    def click_json(self, x: float, y: float) -> str:
        """`click`, answered as JSON (`null` when the click means no action)."""
        return json.dumps(self.session.click(float(x), float(y)))

    def end_episode_json(self, returns_json: str) -> str:
        """`end_episode` with returns given as JSON, answered as JSON."""
        return json.dumps(self.session.end_episode(json.loads(returns_json)))

    def page_json(self, what: str) -> str:
        """`page`, answered as JSON."""
        return json.dumps(self.session.page(str(what)))

    def feedback_json(self, value: str) -> str:
        """`feedback`, answered as JSON."""
        return json.dumps(self.session.feedback(str(value)))

    def obs_hash(self) -> str:
        """`obs_hash`: the hash networked browsers compare."""
        return self.session.obs_hash()

    def snapshot_b64(self) -> str:
        """`snapshot` as base64 text (it travels in a JSON message)."""
        return base64.b64encode(self.session.snapshot()).decode("ascii")

    def restore_b64(self, text: str) -> str:
        """`restore` from base64 text, answered as JSON."""
        return json.dumps(self.session.restore(base64.b64decode(text)))

    def objects_json(self) -> str:
        """`objects`, answered as JSON."""
        return objects_json(self.session.objects())

    def frame_bytes(self) -> tuple[int, int, int, bytes]:
        """`frame` as `(height, width, channels, pixel_bytes)`; the worker expands RGB to RGBA."""
        frame = self.session.frame()
        return frame.shape[0], frame.shape[1], frame.shape[2], frame.tobytes()


def played_alone_json(config_json: str, seats_json: str) -> str:
    """`configs.played_alone` with JSON in and out: the config a person plays alone when no partner came."""
    return json.dumps(played_alone(json.loads(config_json), json.loads(seats_json)))


def outputs_from_json(outputs_json: str) -> dict[str, dict[str, np.ndarray]]:
    """Model outputs {agent: {name: {shape, data}}} as float32 arrays."""
    return {
        agent: {name: np.asarray(t["data"], dtype=np.float32).reshape(t["shape"]) for name, t in tensors.items()}
        for agent, tensors in json.loads(outputs_json).items()
    }


def requests_to_json(requests: list[dict[str, Any]]) -> str:
    """ONNX requests as the worker reads them: feeds as `{shape, data}` lists."""
    return json.dumps(
        [
            {
                "agent": r["agent"],
                "model": r["model"],
                "feeds": {
                    name: {"shape": list(a.shape), "data": a.reshape(-1).tolist()} for name, a in r["feeds"].items()
                },
            }
            for r in requests
        ]
    )
