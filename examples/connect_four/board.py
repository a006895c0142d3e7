"""Connect Four as a PettingZoo AEC env with action masks, written for this example (no pygame).

Agents `red` (moves first) and `yellow` take turns; an action is a column 0-6. Each agent observes
a dict: "observation", a (6, 7, 2) array of 0/1 (plane 0: its own discs, plane 1: the opponent's,
row 0 at the top), and "action_mask", 1 for every column that is not full. A win gives +1 to the
winner and -1 to the loser; a full board is a draw (0 each).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv

ROWS, COLUMNS = 6, 7
AGENTS = ("red", "yellow")


class ConnectFour(AECEnv):
    """Two players drop discs into a 6 x 7 board; four in a row (any direction) wins."""

    metadata = {"name": "connect_four_v0", "is_parallelizable": False, "render_modes": []}

    def __init__(self) -> None:
        super().__init__()
        self.possible_agents = list(AGENTS)
        self._action_spaces = {agent: spaces.Discrete(COLUMNS) for agent in AGENTS}
        board = spaces.Box(0, 1, (ROWS, COLUMNS, 2), dtype=np.int8)
        mask = spaces.Box(0, 1, (COLUMNS,), dtype=np.int8)
        self._observation_spaces = {agent: spaces.Dict({"observation": board, "action_mask": mask}) for agent in AGENTS}
        self.board = np.zeros((ROWS, COLUMNS), dtype=np.int8)  # 0 empty, 1 red, 2 yellow
        self.winner: str | None = None
        self.last_move: tuple[int, int] | None = None

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_spaces[agent]

    def observation_space(self, agent: str) -> spaces.Dict:
        return self._observation_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self.agents = list(AGENTS)
        self.board = np.zeros((ROWS, COLUMNS), dtype=np.int8)
        self.rewards = {agent: 0 for agent in AGENTS}
        self._cumulative_rewards = {agent: 0 for agent in AGENTS}
        self.terminations = {agent: False for agent in AGENTS}
        self.truncations = {agent: False for agent in AGENTS}
        self.infos = {agent: {} for agent in AGENTS}
        self.agent_selection = AGENTS[0]
        self.winner = None
        self.last_move = None

    def legal_columns(self) -> np.ndarray:
        """1 for each column with room for another disc."""
        return (self.board[0] == 0).astype(np.int8)

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        own = AGENTS.index(agent) + 1
        planes = np.stack([self.board == own, (self.board != 0) & (self.board != own)], axis=-1).astype(np.int8)
        return {"observation": planes, "action_mask": self.legal_columns()}

    def step(self, action: int | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        if action is None or not self.legal_columns()[int(action)]:
            raise ValueError(f"{agent} cannot play column {action!r}: it is full or not a column")
        column = int(action)
        row = int(np.flatnonzero(self.board[:, column] == 0)[-1])
        self.board[row, column] = AGENTS.index(agent) + 1
        self.last_move = (row, column)
        self.rewards = {name: 0 for name in AGENTS}
        if self._four_from(row, column):
            self.winner = agent
            self.rewards = {name: 1 if name == agent else -1 for name in AGENTS}
            self.terminations = {name: True for name in AGENTS}
        elif not self.legal_columns().any():
            self.terminations = {name: True for name in AGENTS}
        self._cumulative_rewards[agent] = 0
        self._accumulate_rewards()
        self.agent_selection = AGENTS[1 - AGENTS.index(agent)]

    def _four_from(self, row: int, column: int) -> bool:
        """Whether the disc at (row, column) completes four in a row."""
        colour = self.board[row, column]
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            count = 1
            for sign in (1, -1):
                r, c = row + sign * dr, column + sign * dc
                while 0 <= r < ROWS and 0 <= c < COLUMNS and self.board[r, c] == colour:
                    count += 1
                    r, c = r + sign * dr, c + sign * dc
            if count >= 4:
                return True
        return False

    def render(self) -> None:
        return None


def make_connect_four() -> ConnectFour:
    """The env creator the experiments reference."""
    return ConnectFour()
