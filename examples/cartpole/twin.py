"""Two CartPoles side by side as one two-agent gymnasium env (actions and observations keyed by agent)."""

from __future__ import annotations

import gymnasium
import numpy as np
from frames import draw_cartpole
from gymnasium.envs.classic_control import CartPoleEnv

AGENTS = ("human", "ai")


class TwinCartPole(gymnasium.Env):
    """Each agent balances its own cart; the team's episode ends when either pole falls.

    Observations and actions are dicts keyed by the agent ids (default "human" and "ai"); each agent
    earns 1 per step.
    """

    def __init__(self, max_episode_steps: int = 500, agents: tuple[str, str] | list[str] = AGENTS) -> None:
        self.carts = {agent: CartPoleEnv() for agent in agents}
        self.action_space = gymnasium.spaces.Dict({agent: cart.action_space for agent, cart in self.carts.items()})
        self.observation_space = gymnasium.spaces.Dict(
            {agent: cart.observation_space for agent, cart in self.carts.items()}
        )
        self.max_episode_steps = max_episode_steps

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.steps = 0
        observations = {}
        for offset, (agent, cart) in enumerate(self.carts.items()):
            observations[agent], _ = cart.reset(seed=None if seed is None else seed * 2 + offset)
        return observations, {}

    def step(self, actions: dict):
        observations, rewards, fallen = {}, {}, False
        for agent, cart in self.carts.items():
            observations[agent], rewards[agent], terminated, _, _ = cart.step(int(actions[agent]))
            fallen = fallen or terminated
        self.steps += 1
        return observations, rewards, fallen, self.steps >= self.max_episode_steps, {}


def make_twin_cartpole(**kwargs) -> TwinCartPole:
    """The env factory the experiment references."""
    return TwinCartPole(**kwargs)


def draw_twins(env) -> np.ndarray:
    """The first agent's cart above the second's, as one (400, 300, 3) frame."""
    return np.concatenate([draw_cartpole(cart) for cart in env.unwrapped.carts.values()], axis=0)
