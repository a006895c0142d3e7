"""One participant's env: reset, step with per-agent actions, render frames, hash states.

The JavaScript worker calls the `*_json` methods once per tick; native code (build checks,
replay) calls the typed methods. Both paths share every line of env logic.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from gymcast_runtime.callbacks import Callback, checked_custom
from gymcast_runtime.hashing import state_hash
from gymcast_runtime.refs import import_ref
from gymcast_runtime.shim import install_multiprocessing_stub


class SessionConfigError(ValueError):
    """The game config does not fit the env it describes."""


class GameSession:
    """Runs a single-agent gymnasium env for the players in a bundle's game config.

    Args:
        config: the `game` section of a bundle manifest (see `gymcast.experiment`).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        install_multiprocessing_stub()
        import gymnasium

        self.config = config
        self.agents: list[str] = list(config["players"])
        if len(self.agents) != 1:
            raise SessionConfigError(
                f"a single-agent gymnasium env takes exactly one player, got {len(self.agents)}: {self.agents}"
            )
        env_config = config["env"]
        frame_fn = config["rendering"].get("frame_fn")
        self.frame_fn = import_ref(frame_fn) if frame_fn else None
        kwargs = dict(env_config.get("kwargs") or {})
        if env_config.get("creator"):
            self.env = import_ref(env_config["creator"])(**kwargs)
        else:
            if self.frame_fn is None:
                kwargs.setdefault("render_mode", "rgb_array")
            self.env = gymnasium.make(env_config["id"], **kwargs)
        self.max_steps: int | None = config["gameplay"].get("max_steps")
        logging = config.get("logging") or {}
        self.hash_every: int = logging.get("hash_every", 1)
        self.log_observations: bool = logging.get("observations", False)
        callback_ref = config.get("callbacks")
        self.callback: Callback = import_ref(callback_ref)() if callback_ref else Callback()
        self.step_count = 0
        self.episode = 0
        self.observation: Any = None

    def reset(self, seed: int, episode: int = 0) -> dict[str, Any]:
        """Start episode `episode` from `seed`; returns `{"step": 0, "obs_hash": ...}` plus any custom fields."""
        self.observation, _ = self.env.reset(seed=seed)
        self.step_count = 0
        self.episode = episode
        record: dict[str, Any] = {"step": 0, "obs_hash": state_hash(self.observation)}
        self._add_observation(record)
        self._add_custom(record, "on_episode_start", self.callback.on_episode_start(self.env, episode, seed))
        return record

    def step(self, actions: dict[str, Any]) -> dict[str, Any]:
        """Apply one action per agent; returns step index, rewards per agent, flags and the obs hash.

        `truncated` is also set when the configured `max_steps` is reached. The hash is logged
        every `hash_every` steps and on the last step of an episode.
        """
        agent = self.agents[0]
        if agent not in actions:
            raise SessionConfigError(f"no action for agent {agent!r}; got actions for {sorted(actions)}")
        action = coerce_action(self.env.action_space, actions[agent])
        self.observation, reward, terminated, truncated, _ = self.env.step(action)
        self.step_count += 1
        if self.max_steps is not None and self.step_count >= self.max_steps:
            truncated = True
        record: dict[str, Any] = {
            "step": self.step_count,
            "rewards": {agent: float(reward)},
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        }
        if terminated or truncated or self.step_count % self.hash_every == 0:
            record["obs_hash"] = state_hash(self.observation)
        self._add_observation(record)
        self._add_custom(record, "on_step", self.callback.on_step(self.env, actions, dict(record)))
        return record

    def end_episode(self, returns: dict[str, float]) -> dict[str, Any]:
        """Run the `on_episode_end` hook; returns `{"custom": ...}` or `{}`."""
        record: dict[str, Any] = {}
        self._add_custom(record, "on_episode_end", self.callback.on_episode_end(self.env, self.episode, returns))
        return record

    def page(self, what: str) -> dict[str, Any]:
        """Run the `on_page` hook; returns `{"custom": ...}` or `{}`."""
        record: dict[str, Any] = {}
        self._add_custom(record, "on_page", self.callback.on_page(what))
        return record

    def _add_observation(self, record: dict[str, Any]) -> None:
        if self.log_observations:
            record["obs"] = to_json_value(self.observation)

    @staticmethod
    def _add_custom(record: dict[str, Any], hook: str, fields: dict[str, Any] | None) -> None:
        custom = checked_custom(hook, fields)
        if custom:
            record["custom"] = custom

    def frame(self) -> np.ndarray:
        """The current frame as a contiguous (height, width, 3 or 4) uint8 RGB(A) array."""
        frame = np.asarray(self.frame_fn(self.env) if self.frame_fn is not None else self.env.render())
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise SessionConfigError(
                f"a frame must be a (height, width, 3) uint8 array, got dtype {frame.dtype} and shape {frame.shape}"
            )
        return np.ascontiguousarray(frame)

    # -- the JavaScript worker's entry points: JSON in, JSON out ----------------------------------

    def reset_json(self, seed: int, episode: int = 0) -> str:
        """`reset`, answered as JSON."""
        return json.dumps(self.reset(int(seed), int(episode)))

    def end_episode_json(self, returns_json: str) -> str:
        """`end_episode` with returns given as JSON, answered as JSON."""
        return json.dumps(self.end_episode(json.loads(returns_json)))

    def page_json(self, what: str) -> str:
        """`page`, answered as JSON."""
        return json.dumps(self.page(str(what)))

    def step_json(self, actions_json: str) -> str:
        """`step` with actions given as a JSON object, answered as JSON."""
        return json.dumps(self.step(json.loads(actions_json)))

    def frame_bytes(self) -> tuple[int, int, int, bytes]:
        """`frame` as `(height, width, channels, pixel_bytes)`; the worker expands RGB to RGBA."""
        frame = self.frame()
        return frame.shape[0], frame.shape[1], frame.shape[2], frame.tobytes()


def coerce_action(space: Any, value: Any) -> Any:
    """Turn a JSON action into what `space` expects (an int for Discrete, an array otherwise)."""
    import gymnasium

    if isinstance(space, gymnasium.spaces.Discrete):
        return int(value)
    return np.asarray(value, dtype=space.dtype)


def to_json_value(value: Any) -> Any:
    """An observation as plain JSON values (arrays become nested lists, dicts keep their keys)."""
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_json_value(item) for item in value]
    return np.asarray(value).tolist()
