"""CoGrid's Overcooked Cramped Room with named chefs, and a reading of its state for drawing and for the scripted chef.

`Kitchen` wraps cogrid's PettingZoo env so agents are called "blue" and "green" (cogrid numbers
them 0 and 1); everything else (observations, rewards, `get_state`/`set_state`) is cogrid's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pettingzoo import ParallelEnv

AGENTS = ("blue", "green")
#: cogrid's cardinal action set, in its order: move up, down, left, right, pick up or drop, toggle, no-op
UP, DOWN, LEFT, RIGHT, INTERACT, TOGGLE, STAY = range(7)
#: cogrid's agent_dir -> (row step, column step): 0 right, 1 down, 2 left, 3 up
DIRECTIONS = {0: (0, 1), 1: (1, 0), 2: (0, -1), 3: (-1, 0)}
MOVE_TOWARDS = {(0, 1): RIGHT, (1, 0): DOWN, (0, -1): LEFT, (-1, 0): UP}


class Kitchen(ParallelEnv):
    """Overcooked-CrampedRoom-V0 from cogrid, played by "blue" and "green"."""

    metadata = {"name": "gymcast_cramped_room"}

    def __init__(self, max_steps: int = 1000, layout: str = "Overcooked-CrampedRoom-V0") -> None:
        from cogrid.envs import registry

        self.env = registry.make(layout)
        self.env.max_steps = max_steps
        self.max_steps = max_steps
        self.possible_agents = list(AGENTS)
        self.agents = list(AGENTS)
        self.ids = dict(zip(AGENTS, self.env.possible_agents))
        self.score = 0.0
        self.soups_delivered = 0

    def action_space(self, agent: str):
        return self.env.action_space(self.ids[agent])

    def observation_space(self, agent: str):
        return self.env.observation_space(self.ids[agent])

    def reset(self, seed: int | None = None, options: dict | None = None):
        observations, infos = self.env.reset(seed=seed)
        self.agents = list(AGENTS)
        self.steps, self.score, self.soups_delivered = 0, 0.0, 0
        return self._named(observations), self._named(infos)

    def step(self, actions: dict[str, Any]):
        observations, rewards, terminations, truncations, infos = self.env.step(
            {self.ids[agent]: int(action) for agent, action in actions.items()}
        )
        self.steps += 1
        team = float(sum(rewards.values())) / len(rewards)  # common reward: every chef gets the team's
        self.score += team
        self.soups_delivered += int(team >= 20)
        truncated = self._named(truncations)
        if self.steps >= self.max_steps:
            truncated = {agent: True for agent in AGENTS}
        return self._named(observations), self._named(rewards), self._named(terminations), truncated, self._named(infos)

    def get_state(self) -> dict[str, Any]:
        return {"cogrid": self.env.get_state(), "steps": self.steps, "score": self.score, "soups": self.soups_delivered}

    def set_state(self, state: dict[str, Any]) -> None:
        self.env.set_state(state["cogrid"])
        self.steps, self.score, self.soups_delivered = state["steps"], state["score"], state["soups"]

    def _named(self, per_id: dict) -> dict:
        return {agent: per_id[agent_id] for agent, agent_id in self.ids.items() if agent_id in per_id}


def make_kitchen(**kwargs) -> Kitchen:
    """The env factory the experiments reference."""
    return Kitchen(**kwargs)


@dataclass(frozen=True)
class Chef:
    row: int
    col: int
    direction: int  # cogrid's agent_dir
    holding: str | None


@dataclass(frozen=True)
class Pot:
    row: int
    col: int
    onions: int
    timer: int  # counts down from 30 once the pot is full; 0 = soup ready

    @property
    def full(self) -> bool:
        return self.onions >= 3

    @property
    def ready(self) -> bool:
        return self.full and self.timer == 0


@dataclass(frozen=True)
class View:
    """What the chefs and the screen need from cogrid's state."""

    tiles: list[list[str | None]]  # object name per cell (counters, dispensers, pot, items on counters)
    chefs: dict[str, Chef]
    pots: list[Pot]
    steps: int
    score: float
    soups: int


def read_kitchen(env) -> View:
    """The current state of a Kitchen (or anything wrapping one), named."""
    from cogrid.core.objects.registry import get_object_names

    kitchen: Kitchen = env.unwrapped if hasattr(env, "unwrapped") else env
    state = kitchen.env.get_state()
    names = get_object_names(scope="overcooked")
    tiles = [[names[t] if t > 1 else None for t in row] for row in state["object_type_map"]]
    chefs = {}
    for agent, agent_id in kitchen.ids.items():
        row, col = state["agent_pos"][agent_id]
        held = state["agent_inv"][agent_id][0]
        chefs[agent] = Chef(int(row), int(col), int(state["agent_dir"][agent_id]), names[held] if held > 0 else None)
    extra = state["extra_state"]
    contents = np.asarray(extra["overcooked.pot_contents"]["data"]).reshape(-1, 3)
    timers = np.asarray(extra["overcooked.pot_timer"]["data"]).reshape(-1)
    positions = np.asarray(extra["overcooked.pot_positions"]["data"]).reshape(-1, 2)
    pots = [
        Pot(int(r), int(c), int((items >= 0).sum()), int(timer))
        for (r, c), items, timer in zip(positions, contents, timers)
    ]
    return View(tiles, chefs, pots, kitchen.steps, kitchen.score, kitchen.soups_delivered)
