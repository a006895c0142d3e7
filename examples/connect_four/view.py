"""How the board looks and what a click means: drawn with Phaser objects, clicked by column."""

from __future__ import annotations

from typing import Any

from board import COLUMNS, ROWS

from gymcast_runtime import draw
from gymcast_runtime.input import grid_click

CELL = 80
WIDTH, HEIGHT = COLUMNS * CELL, ROWS * CELL + 40
COLOURS = {1: "#e63946", 2: "#f4c20d"}
RENDERING = {
    "fps": 30,
    "width": WIDTH,
    "height": HEIGHT,
    "objects_fn": "view:draw_board",
    "click_fn": "view:click_column",
}


def draw_board(env: Any) -> list[dict[str, Any]]:
    """The blue board, a disc (or a hole) per cell, and a line saying whose move it is or who won."""
    objects = [draw.rect("board", WIDTH / 2, ROWS * CELL / 2, WIDTH, ROWS * CELL, "#1d4ed8", tween=False)]
    for row in range(ROWS):
        for column in range(COLUMNS):
            colour = COLOURS.get(int(env.board[row, column]), "#f1f5f9")
            x, y = column * CELL + CELL / 2, row * CELL + CELL / 2
            objects.append(draw.circle(f"cell_{row}_{column}", x, y, CELL * 0.4, colour, depth=1, tween=False))
    if env.winner:
        line = f"{env.winner.capitalize()} wins!"
    elif not env.legal_columns().any():
        line = "Draw: the board is full."
    else:
        line = f"{env.agent_selection.capitalize()} to move: click a column"
    objects.append(draw.text("status", WIDTH / 2, ROWS * CELL + 20, line, size=20, color="#1d3557"))
    return objects


def click_column(env: Any, x: float, y: float) -> int | None:
    """A click anywhere in a column of the board plays that column."""
    return grid_click(x, y, COLUMNS, 1, WIDTH, ROWS * CELL)
