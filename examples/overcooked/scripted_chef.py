"""A scripted Cramped Room chef: onions into the pot, a plate for the soup, the soup to the serving window.

It plans on the grid with breadth-first search (the partner counts as an obstacle) and is the
teacher that train_partner.py clones into the ONNX AI partner.
"""

from __future__ import annotations

from collections import deque

from kitchen import DIRECTIONS, INTERACT, MOVE_TOWARDS, STAY, Chef, View


def choose(view: View, agent: str) -> int:
    """The scripted chef's action for `agent` in this state."""
    chef = view.chefs[agent]
    pot = view.pots[0]
    partner_holds = [c.holding for name, c in view.chefs.items() if name != agent]
    if chef.holding == "onion_soup":
        goal = "delivery_zone"
    elif chef.holding == "onion":
        goal = "pot" if not pot.full else "counter"
    elif chef.holding == "plate":
        goal = "pot"
        if not pot.ready and _facing(view, chef) == "pot":
            return STAY  # wait at the pot with the plate until the soup is done
    elif pot.full and "plate" not in partner_holds and "onion_soup" not in partner_holds:
        goal = "plate_stack"
    elif not pot.full:
        goal = "onion_stack"
    else:
        return STAY
    return _towards(view, agent, goal)


def _facing(view: View, chef: Chef) -> str | None:
    dr, dc = DIRECTIONS[chef.direction]
    return _tile(view, chef.row + dr, chef.col + dc)


def _tile(view: View, row: int, col: int) -> str | None:
    if 0 <= row < len(view.tiles) and 0 <= col < len(view.tiles[0]):
        return view.tiles[row][col]
    return "wall"


def _towards(view: View, agent: str, goal: str) -> int:
    """Interact when facing a `goal` tile; else the first step of a shortest path to stand next to one and face it."""
    chef = view.chefs[agent]
    if _facing(view, chef) == goal:
        return INTERACT
    blocked = {(c.row, c.col) for name, c in view.chefs.items() if name != agent}
    start = (chef.row, chef.col)
    first_move: dict[tuple[int, int], int | None] = {start: None}
    queue = deque([start])
    while queue:
        row, col = queue.popleft()
        for (dr, dc), move in MOVE_TOWARDS.items():
            nr, nc = row + dr, col + dc
            if _tile(view, nr, nc) == goal:
                return first_move[(row, col)] if first_move[(row, col)] is not None else move  # turn to face it
            if (nr, nc) in first_move or (nr, nc) in blocked or _tile(view, nr, nc) is not None:
                continue
            first_move[(nr, nc)] = first_move[(row, col)] if first_move[(row, col)] is not None else move
            queue.append((nr, nc))
    return STAY
