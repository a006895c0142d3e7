"""One interface over the env APIs gymcast accepts: single-agent gymnasium, gymnasium with
per-agent dicts, and PettingZoo's Parallel and AEC APIs (used as is)."""

from __future__ import annotations

import json
from typing import Any

from gymcast_runtime.refs import import_ref


class EnvAdapter:
    """Per-agent view of an env.

    `step` takes `{agent: action}` and returns `(rewards {agent: float}, terminated, truncated)`;
    the episode ends when `terminated` or `truncated` is True. `observation(agent)` is what that
    agent's policy sees.
    """

    def __init__(self, env: Any, agents: list[str]) -> None:
        self.env = env
        self.agents = agents
        self.observation_all: Any = None

    def reset(self, seed: int) -> Any:
        """Reset with `seed`; returns the full observation (hashed and logged)."""
        raise NotImplementedError

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, float], bool, bool]:
        """Apply one action per agent."""
        raise NotImplementedError

    def action_space(self, agent: str) -> Any:
        """The action space of `agent`."""
        raise NotImplementedError

    def observation(self, agent: str) -> Any:
        """`agent`'s part of the current observation."""
        raise NotImplementedError

    def to_move(self) -> list[str]:
        """The agents whose actions the next `step` takes (every agent, except in turn-taking AEC envs)."""
        return list(self.agents)

    def action_mask(self, agent: str) -> list[int] | None:
        """`agent`'s legal actions now as a 0/1 list (from an "action_mask" in its observation or info), or None."""
        return mask_of(self.observation(agent), self.info(agent))

    def info(self, agent: str) -> Any:
        """`agent`'s latest info dict (where some envs put "action_mask")."""
        return None


class SingleAgentEnv(EnvAdapter):
    """A plain gymnasium env played by one agent."""

    last_info: Any = None

    def reset(self, seed: int) -> Any:
        self.observation_all, self.last_info = self.env.reset(seed=seed)
        return self.observation_all

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, float], bool, bool]:
        (agent,) = self.agents
        self.observation_all, reward, terminated, truncated, self.last_info = self.env.step(actions[agent])
        return {agent: float(reward)}, bool(terminated), bool(truncated)

    def info(self, agent: str) -> Any:
        return self.last_info

    def action_space(self, agent: str) -> Any:
        return self.env.action_space

    def observation(self, agent: str) -> Any:
        return self.observation_all


class DictAgentsEnv(SingleAgentEnv):
    """A gymnasium env whose action space is a Dict keyed by agent id.

    Observations are per agent when the observation is a dict holding the agent's key, and shared
    otherwise. A scalar reward is shared by every agent; a dict reward is taken per agent.
    """

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, float], bool, bool]:
        self.observation_all, reward, terminated, truncated, self.last_info = self.env.step(dict(actions))
        if isinstance(reward, dict):
            rewards = {agent: float(reward.get(agent, 0.0)) for agent in self.agents}
        else:
            rewards = {agent: float(reward) for agent in self.agents}
        return rewards, bool(terminated), bool(truncated)

    def action_space(self, agent: str) -> Any:
        return self.env.action_space[agent]

    def observation(self, agent: str) -> Any:
        if isinstance(self.observation_all, dict) and agent in self.observation_all:
            return self.observation_all[agent]
        return self.observation_all


class ParallelAgentsEnv(EnvAdapter):
    """A PettingZoo `ParallelEnv`. The episode ends when every agent is done (or none is left)."""

    def reset(self, seed: int) -> Any:
        self.observation_all, _ = self.env.reset(seed=seed)
        return self.observation_all

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, float], bool, bool]:
        live = {agent: action for agent, action in actions.items() if agent in self.env.agents}
        self.observation_all, rewards, terminations, truncations, _ = self.env.step(live)
        finished = [agent for agent in live if terminations.get(agent) or truncations.get(agent)]
        over = not self.env.agents or len(finished) == len(live)
        terminated = over and any(terminations.get(agent) for agent in live)
        truncated = over and not terminated
        return {agent: float(rewards.get(agent, 0.0)) for agent in self.agents}, terminated, truncated

    def action_space(self, agent: str) -> Any:
        return self.env.action_space(agent)

    def observation(self, agent: str) -> Any:
        return self.observation_all.get(agent)


class AECAgentsEnv(EnvAdapter):
    """A PettingZoo `AECEnv`: agents take turns (`agent_selection`), one action per `step`.

    Each `step` applies the action of the agent to move, then steps every agent that is done but
    still listed with `None` (as PettingZoo requires), summing the rewards of both. The episode ends
    when no agent is left or every listed agent is terminated or truncated. The full observation
    (hashed and logged) is `{agent: env.observe(agent)}` over the players.
    """

    def reset(self, seed: int) -> Any:
        self.env.reset(seed=seed)
        self.observation_all = self._observe_all()
        return self.observation_all

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, float], bool, bool]:
        rewards = {agent: 0.0 for agent in self.agents}
        (mover,) = self.to_move()
        self._step_and_add(actions[mover], rewards)
        while self.env.agents and not self._over() and self._done(self.env.agent_selection):
            self._step_and_add(None, rewards)
        over = self._over()
        terminations = getattr(self.env, "terminations", {})
        terminated = over and any(terminations.get(agent) for agent in self.agents)
        self.observation_all = self._observe_all()
        return rewards, terminated, over and not terminated

    def _step_and_add(self, action: Any, rewards: dict[str, float]) -> None:
        self.env.step(action)
        for agent, reward in (getattr(self.env, "rewards", None) or {}).items():
            if agent in rewards:
                rewards[agent] += float(reward)

    def _done(self, agent: str) -> bool:
        return bool(self.env.terminations.get(agent) or self.env.truncations.get(agent))

    def _over(self) -> bool:
        return not self.env.agents or all(self._done(agent) for agent in self.env.agents)

    def _observe_all(self) -> dict[str, Any]:
        return {agent: self.env.observe(agent) for agent in self.agents}

    def to_move(self) -> list[str]:
        return [self.env.agent_selection]

    def action_space(self, agent: str) -> Any:
        return self.env.action_space(agent)

    def observation(self, agent: str) -> Any:
        return self.observation_all.get(agent) if isinstance(self.observation_all, dict) else None

    def info(self, agent: str) -> Any:
        return (getattr(self.env, "infos", None) or {}).get(agent)


def mask_of(observation: Any, info: Any) -> list[int] | None:
    """The "action_mask" of a dict observation, else of an info dict, as a 0/1 list; None when neither has one."""
    for source in (observation, info):
        if isinstance(source, dict) and source.get("action_mask") is not None:
            import numpy as np

            return [int(bool(x)) for x in np.asarray(source["action_mask"]).reshape(-1)]
    return None


def is_aec(env: Any) -> bool:
    """Whether `env` is a PettingZoo AEC env (an `AECEnv`, or anything with `agent_selection` and `observe`)."""
    try:
        from pettingzoo import AECEnv

        if isinstance(env, AECEnv):
            return True
    except ImportError:
        pass
    return hasattr(env, "agent_selection") and callable(getattr(env, "observe", None))


def adapt_aec(env: Any, agents: list[str]) -> EnvAdapter:
    """The adapter for a PettingZoo AEC env; ValueError names players that are not its agents."""
    unknown = sorted(set(agents) - set(env.possible_agents))
    if unknown:
        raise ValueError(
            f"players {unknown} are not agents of this PettingZoo AEC env; its agents are {env.possible_agents}"
        )
    missing = [agent for agent in env.possible_agents if agent not in agents]
    if missing:
        raise ValueError(f"the PettingZoo AEC env's agents {missing} have no player; give every agent a player")
    return AECAgentsEnv(env, agents)


def adapt(env: Any, agents: list[str]) -> EnvAdapter:
    """Pick the adapter for `env` played by `agents`; ValueError explains a mismatch."""
    import gymnasium

    if is_aec(env):
        return adapt_aec(env, agents)
    if hasattr(env, "possible_agents") and callable(getattr(env, "action_space", None)):
        unknown = sorted(set(agents) - set(env.possible_agents))
        if unknown:
            raise ValueError(
                f"players {unknown} are not agents of this PettingZoo env; its agents are {env.possible_agents}"
            )
        return ParallelAgentsEnv(env, agents)
    if isinstance(env.action_space, gymnasium.spaces.Dict):
        keys = list(env.action_space.spaces)
        if sorted(keys) != sorted(agents):
            raise ValueError(
                f"the env's Dict action space has keys {keys}, but the players are {agents}; "
                "key players by the same agent ids"
            )
        return DictAgentsEnv(env, agents)
    if len(agents) != 1:
        raise ValueError(
            f"a single-agent gymnasium env takes exactly one player, got {len(agents)}: {agents}; "
            "for several agents give the env a Dict action space keyed by agent id, or use PettingZoo"
        )
    return SingleAgentEnv(env, agents)


def make_env(env_config: dict[str, Any], render_mode: str | None = None) -> Any:
    """The env a game config's `env` section describes: `creator(**kwargs)`, or `gymnasium.make(id, **kwargs)`.

    A made env gets `render_mode` unless its kwargs name one. An id is made from the spec the build
    recorded (`spec`: entry point, kwargs, max_episode_steps, ...; see `gymcast.bundler.env_spec`),
    registered first if missing: ids that a package registers on import work where it was never imported.
    """
    import gymnasium
    from gymnasium.envs.registration import EnvSpec, registry

    kwargs = dict(env_config.get("kwargs") or {})
    if env_config.get("creator"):
        return import_ref(env_config["creator"])(**kwargs)
    if render_mode is not None:
        kwargs.setdefault("render_mode", render_mode)
    env_id = env_config["id"]
    if env_config.get("spec"):
        spec = EnvSpec.from_json(json.dumps(env_config["spec"]))
        registry.setdefault(spec.id, spec)
        env_id = spec.id
    return gymnasium.make(env_id, **kwargs)
