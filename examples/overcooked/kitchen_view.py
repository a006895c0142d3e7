"""Cramped Room as drawable objects: tiles, the pot and its soup, the chefs (turning and gliding) and what they hold, and the score."""

from __future__ import annotations

from kitchen import DIRECTIONS, View, read_kitchen

from gymcast_runtime import draw

#: the frames of assets/kitchen.png, left to right (drawn by make_sprites.py)
FRAMES = (
    "floor",
    "counter",
    "pot",
    "onion_stack",
    "plate_stack",
    "delivery_zone",
    "onion",
    "plate",
    "onion_soup",
    "chef_blue",
    "chef_green",
    "pot_cooking",
    "pot_ready",
)

TILE = 80
HUD = 40
WIDTH, HEIGHT = 5 * TILE, 4 * TILE + HUD
ITEMS = ("onion", "plate", "onion_soup")
#: cogrid's agent_dir -> sprite angle (the chef sprites face up)
ANGLES = {0: 90.0, 1: 180.0, 2: 270.0, 3: 0.0}


#: the `.rendering(...)` settings both Overcooked experiments use
RENDERING = {
    "fps": 8,
    "width": WIDTH,
    "height": HEIGHT,
    "objects_fn": "kitchen_view:draw_kitchen",
    "assets": {"kitchen": {"file": "assets/kitchen.png", "frame_width": 64, "frame_height": 64}},
}


def frame(name: str) -> int:
    return FRAMES.index(name)


def centre(row: float, col: float) -> tuple[float, float]:
    return (col + 0.5) * TILE, HUD + (row + 0.5) * TILE


def draw_kitchen(env) -> list[dict]:
    """The objects of one frame; `objects_fn` of both Overcooked experiments."""
    view = read_kitchen(env)
    objects = _tiles(view) + _pots(view)
    for agent, chef in view.chefs.items():
        x, y = centre(chef.row, chef.col)
        objects.append(
            draw.sprite(
                f"chef_{agent}",
                x,
                y,
                "kitchen",
                frame(f"chef_{agent}"),
                TILE,
                TILE,
                angle=ANGLES[chef.direction],
                depth=3,
            )
        )
        if chef.holding:
            dy, dx = DIRECTIONS[chef.direction]  # (row, column) steps: y and x on screen
            objects.append(
                draw.sprite(
                    f"held_{agent}",
                    x + dx * TILE * 0.3,
                    y + dy * TILE * 0.3,
                    "kitchen",
                    frame(chef.holding),
                    TILE * 0.5,
                    TILE * 0.5,
                    depth=4,
                )
            )
    left = env.unwrapped.max_steps - view.steps
    objects.append(draw.rect("hud", WIDTH / 2, HUD / 2, WIDTH, HUD, "#2b2d42", depth=5, tween=False))
    objects.append(
        draw.text(
            "score",
            WIDTH / 2,
            HUD / 2,
            f"Soups {view.soups}   Score {view.score:g}   Time {left}",
            size=18,
            color="#ffffff",
            bold=True,
            depth=6,
        )
    )
    return objects


def _tiles(view: View) -> list[dict]:
    objects = []
    for row, names in enumerate(view.tiles):
        for col, name in enumerate(names):
            x, y = centre(row, col)
            base = "floor" if name is None else "counter" if name in ITEMS or name == "pot" else name
            if name == "pot":
                continue  # drawn by _pots with its contents
            objects.append(draw.sprite(f"tile_{row}_{col}", x, y, "kitchen", frame(base), TILE, TILE, tween=False))
            if name in ITEMS:
                objects.append(
                    draw.sprite(
                        f"item_{row}_{col}", x, y, "kitchen", frame(name), TILE * 0.6, TILE * 0.6, depth=1, tween=False
                    )
                )
    return objects


def _pots(view: View) -> list[dict]:
    objects = []
    for index, pot in enumerate(view.pots):
        x, y = centre(pot.row, pot.col)
        look = "pot_ready" if pot.ready else "pot_cooking" if pot.full else "pot"
        objects.append(draw.sprite(f"pot_{index}", x, y, "kitchen", frame(look), TILE, TILE, tween=False))
        for n in range(pot.onions if not pot.full else 0):
            objects.append(
                draw.sprite(
                    f"pot_{index}_onion_{n}",
                    x - 16 + 16 * n,
                    y,
                    "kitchen",
                    frame("onion"),
                    22,
                    22,
                    depth=1,
                    tween=False,
                )
            )
        if pot.full and not pot.ready:
            objects.append(
                draw.text(f"pot_{index}_timer", x, y, str(pot.timer), size=20, color="#ffffff", bold=True, depth=2)
            )
    return objects
