"""One participant's env: reset, step with per-agent actions, AI players, frames, state hashes.

Native code (build checks, replay) calls these typed methods; the JavaScript worker calls them
through `gymcast_runtime.bridge` (JSON in and out). Both paths share every line of env logic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gymcast_runtime.callbacks import Callback, checked_custom
from gymcast_runtime.draw import check_objects
from gymcast_runtime.env_state import StateError, load_state, save_state
from gymcast_runtime.envs import adapt, make_env
from gymcast_runtime.hashing import state_hash
from gymcast_runtime.policies import OnnxPlayer, PythonPlayer, make_ai_player
from gymcast_runtime.refs import import_ref
from gymcast_runtime.shim import install_multiprocessing_stub


class SessionConfigError(ValueError):
    """The game config does not fit the env it describes."""


class GameSession:
    """Runs a bundle's env for its players: humans (actions come from the browser) and AI players.

    Args:
        config: the `game` section of a bundle manifest (see `gymcast.experiment`).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        install_multiprocessing_stub()
        self.config = config
        self.agents: list[str] = list(config["players"])
        env_config = config["env"]
        frame_fn = config["rendering"].get("frame_fn")
        self.frame_fn = import_ref(frame_fn) if frame_fn else None
        objects_fn = config["rendering"].get("objects_fn")
        self.objects_fn = import_ref(objects_fn) if objects_fn else None
        self.textures: dict[str, Any] = config["rendering"].get("assets") or {}
        click_fn = config["rendering"].get("click_fn")
        self.click_fn = import_ref(click_fn) if click_fn else None
        drawn_by_env = self.frame_fn is None and self.objects_fn is None
        self.env = make_env(env_config, "rgb_array" if drawn_by_env else None)
        try:
            self.adapter = adapt(self.env, self.agents)
        except ValueError as error:
            raise SessionConfigError(str(error)) from None
        self.ai = {
            agent: make_ai_player(agent, spec, self.adapter.action_space(agent))
            for agent, spec in config["players"].items()
            if spec["type"] != "human"
        }
        fallbacks = (config.get("multiplayer") or {}).get("fallbacks") or {}
        #: Players that take a human's seat in networked play when that human is gone (see `fallback_actions`).
        self.fallbacks = {
            agent: make_ai_player(agent, spec, self.adapter.action_space(agent)) for agent, spec in fallbacks.items()
        }
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
        self.observation = self.adapter.reset(seed)
        self.step_count = 0
        self.episode = episode
        for player in [*self.ai.values(), *self.fallbacks.values()]:
            player.reset(episode)
        record: dict[str, Any] = {"step": 0, "obs_hash": state_hash(self.observation)}
        self._add_observation(record)
        self._add_custom(record, "on_episode_start", self.callback.on_episode_start(self.env, episode, seed))
        return record

    def policy_requests(self) -> list[dict[str, Any]]:
        """Inputs for each ONNX player that decides this step: `[{agent, model, feeds: {name: array}}]`.

        Call once per step, before `step`, and pass the models' outputs to `step`. In turn-taking
        (AEC) envs only the players to move decide.
        """
        movers = self.adapter.to_move()
        return self._requests({agent: player for agent, player in self.ai.items() if agent in movers})

    def _requests(self, players: dict[str, Any]) -> list[dict[str, Any]]:
        requests = []
        for agent, player in players.items():
            if isinstance(player, OnnxPlayer):
                feeds = player.request(self.adapter.observation(agent))
                if feeds is not None:
                    requests.append({"agent": agent, "model": player.spec["model"], "feeds": feeds})
        return requests

    def fallback_requests(self, agents: list[str]) -> list[dict[str, Any]]:
        """Like `policy_requests`, for the fallback players of `agents` (seats whose human is gone)."""
        return self._requests({agent: self.fallbacks[agent] for agent in agents if agent in self.fallbacks})

    def fallback_actions(
        self, agents: list[str], policy_outputs: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The actions the fallback players of `agents` choose now (JSON values).

        A seat without a fallback player takes its human's default action. In networked play one
        browser decides for a vacant seat and relays the action, so every browser applies the same one.
        """
        outputs = policy_outputs or {}
        actions = {}
        for agent in agents:
            player = self.fallbacks.get(agent)
            if player is None:
                action = self.config["players"][agent].get("default_action", 0)
            else:
                action = _decide(agent, player, self.adapter.observation(agent), outputs, self.action_mask(agent))
            actions[agent] = to_json_value(coerce_action(self.adapter.action_space(agent), action))
        return actions

    def step(self, actions: dict[str, Any], policy_outputs: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Apply one action per agent; returns the record logged for the step.

        Humans' actions come in `actions`. AI players act themselves: ONNX players from
        `policy_outputs` ({agent: {output name: array}}, for the requests of this step) or by
        repeating their last action, Python and random players directly. An AI agent already in
        `actions` takes that action instead (replay). `truncated` is also set at `max_steps`.
        The obs hash is logged every `hash_every` steps and on the last step of an episode.
        """
        applied = self._resolve_actions(actions, policy_outputs or {})
        rewards, terminated, truncated = self.adapter.step(applied)
        self.observation = self.adapter.observation_all
        self.step_count += 1
        if self.max_steps is not None and self.step_count >= self.max_steps:
            truncated = True
        record: dict[str, Any] = {
            "step": self.step_count,
            "actions": to_json_value(applied),
            "rewards": rewards,
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        }
        if terminated or truncated or self.step_count % self.hash_every == 0:
            record["obs_hash"] = state_hash(self.observation)
        self._add_observation(record)
        self._add_custom(record, "on_step", self.callback.on_step(self.env, actions, dict(record)))
        return record

    def _resolve_actions(self, actions: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
        applied: dict[str, Any] = {}
        for agent in self.adapter.to_move():
            if agent in actions:
                action = actions[agent]
            elif agent not in self.ai:
                raise SessionConfigError(f"no action for agent {agent!r}; got actions for {sorted(actions)}")
            else:
                mask = self.action_mask(agent)
                action = _decide(agent, self.ai[agent], self.adapter.observation(agent), outputs, mask)
                if not _allowed(mask, action):
                    raise SessionConfigError(f"AI player {agent!r} chose {action!r}, which the action mask forbids")
            applied[agent] = coerce_action(self.adapter.action_space(agent), action)
        return applied

    def to_move(self) -> list[str]:
        """The agents whose actions the next `step` takes: every agent, or in an AEC env the one to move."""
        return self.adapter.to_move()

    def action_mask(self, agent: str) -> list[int] | None:
        """`agent`'s legal actions now as a 0/1 list, or None when the env gives no action mask."""
        return self.adapter.action_mask(agent)

    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether `agent` may take `action` now: it is to move, the action is in its space and its mask allows it."""
        if agent not in self.adapter.to_move():
            return False
        space = self.adapter.action_space(agent)
        try:
            inside = bool(space.contains(coerce_action(space, action)))
        except (TypeError, ValueError, KeyError):
            return False
        return inside and _allowed(self.action_mask(agent), action)

    def turn(self) -> dict[str, Any]:
        """Who moves next, for turn-based play: `{"to_move": [agents], "masks": {agent: mask or None}}`."""
        movers = self.adapter.to_move()
        return {"to_move": movers, "masks": {agent: self.action_mask(agent) for agent in movers}}

    def random_actions(self) -> dict[str, Any]:
        """A uniformly random legal action for each agent to move (warm-up and build-time traces)."""
        actions = {}
        for agent in self.adapter.to_move():
            space, mask = self.adapter.action_space(agent), self.action_mask(agent)
            actions[agent] = space.sample() if mask is None else space.sample(mask=np.asarray(mask, dtype=np.int8))
        return actions

    def click(self, x: float, y: float) -> Any:
        """The action `rendering.click_fn(env, x, y)` makes of a click at canvas pixel (x, y), or None."""
        if self.click_fn is None:
            return None
        return to_json_value(self.click_fn(self.env, x, y))

    def obs_hash(self) -> str:
        """The hash of the current observation (what networked browsers compare)."""
        return state_hash(self.observation)

    def snapshot(self) -> bytes:
        """The whole game state (env, step, AI players, callback) as bytes, for `restore` in another browser.

        The bytes are data only (see `gymcast_runtime.env_state`); StateError names a value that cannot be saved.
        """
        return save_state(self._state_parts())

    def _state_parts(self) -> dict[str, Any]:
        """The values a snapshot holds, by name (objects are restored into these same objects)."""
        players = {**self.ai, **{f"fallback:{agent}": player for agent, player in self.fallbacks.items()}}
        return {
            "env": self.env,
            "observation": self.observation,
            "step": self.step_count,
            "episode": self.episode,
            "players": players,
            "callback": self.callback,
        }

    def restore(self, blob: bytes) -> dict[str, Any]:
        """Continue from a `snapshot`; returns `{"step", "episode", "obs_hash"}` of the restored state.

        The state is checked against this session's own env and players before anything changes:
        StateError (naming the path) if it does not fit, and the game is then as it was. A session
        that has not played yet (a browser rejoining) resets its env first, so every attribute the
        env makes in `reset` exists to receive its value.
        """
        if self.observation is None:
            self.observation = self.adapter.reset(0)
        restored = load_state(self._state_parts(), blob, self._check_counts)
        self.observation, self.step_count, self.episode = restored["observation"], restored["step"], restored["episode"]
        self.adapter.observation_all = self.observation
        return {"step": self.step_count, "episode": self.episode, "obs_hash": self.obs_hash()}

    @staticmethod
    def _check_counts(restored: dict[str, Any]) -> None:
        """A received state's step and episode must be counts."""
        for name in ("step", "episode"):
            if type(restored[name]) is not int or restored[name] < 0:
                raise StateError(f"{name}: expected a count, got {restored[name]!r:.40}")

    def feedback(self, value: str) -> dict[str, Any]:
        """Deliver participant feedback ("good"/"bad") to Python players; returns `{"delivered_to": [...]}`."""
        delivered = [
            agent
            for agent, player in self.ai.items()
            if isinstance(player, PythonPlayer) and player.feedback(self.episode, self.step_count, value)
        ]
        return {"delivered_to": delivered}

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

    def objects(self) -> list[dict[str, Any]]:
        """The drawables `objects_fn` makes of the env now (see `gymcast_runtime.draw`), checked."""
        return check_objects(self.objects_fn(self.env), self.textures)


def _decide(
    agent: str, player: Any, observation: Any, outputs: dict[str, dict[str, Any]], mask: list[int] | None = None
) -> Any:
    """An AI player's action now: ONNX players from this step's model outputs (or their last action);
    `mask` (0/1 per action, or None) keeps every player to legal actions."""
    if isinstance(player, OnnxPlayer):
        action = player.choose(outputs[agent], mask) if agent in outputs else player.repeat()
        if action is None:
            raise SessionConfigError(f"no model output for ONNX player {agent!r}; run its requests first")
        return action
    return player.act(observation, mask)


def _allowed(mask: list[int] | None, action: Any) -> bool:
    """Whether `mask` allows `action` (always without a mask; a non-integer action is checked by its space)."""
    if mask is None or isinstance(action, (list, dict)):
        return True
    try:
        index = int(action)
    except (TypeError, ValueError):
        return False
    return 0 <= index < len(mask) and bool(mask[index])


def coerce_action(space: Any, value: Any) -> Any:
    """Turn a JSON action into what `space` expects (an int for Discrete, an array otherwise)."""
    import gymnasium

    if isinstance(space, gymnasium.spaces.Discrete):
        return int(value)
    if isinstance(space, gymnasium.spaces.Dict):
        return {key: coerce_action(sub, value[key]) for key, sub in space.spaces.items()}
    return np.asarray(value, dtype=space.dtype)


def to_json_value(value: Any) -> Any:
    """An observation as plain JSON values (arrays become nested lists, dicts keep their keys)."""
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_json_value(item) for item in value]
    return np.asarray(value).tolist()
