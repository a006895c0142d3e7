"""A scripted Connect Four player, run in the browser's Python (a `PythonPolicy`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from board import COLUMNS, ROWS

CENTRE_FIRST = sorted(range(COLUMNS), key=lambda column: abs(column - COLUMNS // 2))


class ScriptedPlayer:
    """Wins when it can, blocks the opponent's winning column, else plays nearest the centre.

    `act` takes the action mask (gymcast passes it as `action_mask=`) and never plays a full column.
    """

    def act(self, observation: dict[str, Any], action_mask: list[int] | None = None) -> int:
        planes = np.asarray(observation["observation"])
        legal = [column for column in CENTRE_FIRST if action_mask is None or action_mask[column]]
        for plane in (0, 1):  # first a winning move of its own, then the opponent's to block
            for column in legal:
                if _wins(planes[:, :, plane], planes.sum(axis=-1), column):
                    return column
        return legal[0]


def _wins(own: np.ndarray, filled: np.ndarray, column: int) -> bool:
    """Whether dropping a disc of `own` into `column` makes four in a row."""
    empty = np.flatnonzero(filled[:, column] == 0)
    if not len(empty):
        return False
    row = int(empty[-1])
    board = own.copy()
    board[row, column] = 1
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        count = 1
        for sign in (1, -1):
            r, c = row + sign * dr, column + sign * dc
            while 0 <= r < ROWS and 0 <= c < COLUMNS and board[r, c]:
                count += 1
                r, c = r + sign * dr, c + sign * dc
        if count >= 4:
            return True
    return False
