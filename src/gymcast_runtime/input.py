"""Helpers for `rendering(click_fn=...)`: turn a click at canvas pixel (x, y) into an action."""

from __future__ import annotations


def grid_click(x: float, y: float, columns: int, rows: int, width: float, height: float) -> int | None:
    """The cell of a `columns` x `rows` grid drawn over a `width` x `height` canvas that (x, y) falls in.

    Returns the column index when `rows == 1` (a board whose move is a column, like Connect Four),
    otherwise `row * columns + column`; None for a click outside the grid.
    """
    if not (0 <= x < width and 0 <= y < height):
        return None
    column = min(columns - 1, int(x * columns // width))
    row = min(rows - 1, int(y * rows // height))
    return column if rows == 1 else row * columns + column
