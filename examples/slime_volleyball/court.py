"""Slime Volleyball as drawable objects: sky, floor, net, two slimes whose eyes follow the ball, the ball, lives and score."""

from __future__ import annotations

import math

from slime import BALL_RADIUS, COURT_WIDTH, GROUND, LIVES, NET_HEIGHT, NET_WIDTH, SLIME_RADIUS, Slime, SlimeVolleyball

from gymcast_runtime import draw

WIDTH, HEIGHT = 720, 300
SCALE = WIDTH / COURT_WIDTH  # pixels per court unit
COLORS = {
    "sky": "#cfe8ff",
    "floor": "#7a9a3a",
    "net": "#6b4226",
    "left": "#f2a900",
    "right": "#2f7de1",
    "ball": "#e5383b",
    "eye": "#ffffff",
    "pupil": "#111111",
    "text": "#1d3557",
}
SLIME_SHAPE = draw.arc_points(SLIME_RADIUS * SCALE, 0, 180)


#: the `.rendering(...)` settings both Slime Volleyball experiments use (30 steps/s: the physics' time step)
RENDERING = {"fps": 30, "width": WIDTH, "height": HEIGHT, "objects_fn": "court:draw_court"}


def to_px(x: float, y: float) -> tuple[float, float]:
    """Court units (y up from the floor) to canvas pixels (y down)."""
    return (x + COURT_WIDTH / 2) * SCALE, HEIGHT - y * SCALE


def draw_court(env) -> list[dict]:
    """The objects of one frame; `objects_fn` of both Slime Volleyball experiments."""
    game: SlimeVolleyball = env.unwrapped
    floor_y = to_px(0, GROUND)[1]
    net_x, net_top = to_px(0, NET_HEIGHT)
    ball_x, ball_y = to_px(game.ball.x, game.ball.y)
    objects = [
        draw.rect("sky", WIDTH / 2, HEIGHT / 2, WIDTH, HEIGHT, COLORS["sky"], depth=0, tween=False),
        draw.rect(
            "floor", WIDTH / 2, (floor_y + HEIGHT) / 2, WIDTH, HEIGHT - floor_y, COLORS["floor"], depth=1, tween=False
        ),
        draw.rect(
            "net",
            net_x,
            (net_top + floor_y) / 2,
            NET_WIDTH * SCALE,
            floor_y - net_top,
            COLORS["net"],
            depth=1,
            tween=False,
        ),
        draw.circle("net_top", net_x, net_top, NET_WIDTH / 2 * SCALE, COLORS["net"], depth=1, tween=False),
        draw.circle("ball", ball_x, ball_y, BALL_RADIUS * SCALE, COLORS["ball"], depth=4),
        draw.text(
            "score",
            WIDTH / 2,
            18,
            f"{lives_label(game.left)}   —   {lives_label(game.right)}",
            size=18,
            color=COLORS["text"],
            bold=True,
            depth=5,
        ),
    ]
    for name, slime in (("left", game.left), ("right", game.right)):
        objects += _slime(name, slime, game.ball.x, game.ball.y)
    return objects


def lives_label(slime: Slime) -> str:
    """Lives left as filled dots, lives lost as hollow ones."""
    return "●" * slime.lives + "○" * (LIVES - slime.lives)


def _slime(name: str, slime: Slime, ball_x: float, ball_y: float) -> list[dict]:
    """A half disc with an eye that looks at the ball."""
    x, y = to_px(slime.x, slime.y)
    angle = math.radians(120 if slime.side == 1 else 60)
    eye_x, eye_y = slime.x + 0.6 * slime.r * math.cos(angle), slime.y + 0.6 * slime.r * math.sin(angle)
    look_x, look_y = ball_x - eye_x, ball_y - eye_y
    distance = math.hypot(look_x, look_y) or 1.0
    pupil = to_px(eye_x + look_x / distance * 0.15 * slime.r, eye_y + look_y / distance * 0.15 * slime.r)
    return [
        draw.polygon(f"{name}_body", x, y, SLIME_SHAPE, COLORS[name], depth=2),
        draw.circle(f"{name}_eye", *to_px(eye_x, eye_y), 0.3 * slime.r * SCALE, COLORS["eye"], depth=3),
        draw.circle(f"{name}_pupil", *pupil, 0.1 * slime.r * SCALE, COLORS["pupil"], depth=3),
    ]
