"""Draws CartPole with numpy alone, so the browser needs no pygame."""

from __future__ import annotations

import functools

import numpy as np

WIDTH, HEIGHT = 300, 200
TRACK_Y = 150  # pixels from the top
SKY, TRACK, CART, POLE, AXLE = (250, 250, 247), (60, 60, 60), (40, 40, 40), (202, 152, 101), (129, 132, 203)


def draw_cartpole(env) -> np.ndarray:
    """A (200, 300, 3) uint8 picture of the cart and pole in `env`'s current state."""
    cartpole = env.unwrapped
    x, _, theta, _ = cartpole.state
    scale = WIDTH / (2 * cartpole.x_threshold)
    frame = _background().copy()
    cart_x = int(round(x * scale + WIDTH / 2))
    _fill_rect(
        frame, cart_x - 25 * WIDTH // 600, TRACK_Y - 15 * WIDTH // 600, 50 * WIDTH // 600, 30 * WIDTH // 600, CART
    )
    pole_length = scale * 2 * cartpole.length
    axle_y = TRACK_Y - 5
    _fill_rotated_bar(frame, cart_x, axle_y, theta, pole_length, 5.0, POLE)
    _fill_disc(frame, cart_x, axle_y, 2.5, AXLE)
    return frame


@functools.cache
def _background() -> np.ndarray:
    """Sky and track, drawn once (numpy fills are slow in the browser; copies are fast)."""
    frame = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[:] = SKY
    frame[TRACK_Y, :] = TRACK
    return frame


def _fill_rect(frame: np.ndarray, left: int, top: int, width: int, height: int, color) -> None:
    frame[max(top, 0) : max(top + height, 0), max(left, 0) : max(left + width, 0)] = color


def _fill_rotated_bar(frame, x0: float, y0: float, angle: float, length: float, width: float, color) -> None:
    """A bar from (x0, y0) leaning `angle` radians clockwise from vertical."""
    direction = np.array([np.sin(angle), -np.cos(angle)])
    x1, y1 = x0 + direction[0] * length, y0 + direction[1] * length
    left, right = int(max(min(x0, x1) - width, 0)), int(min(max(x0, x1) + width, frame.shape[1] - 1))
    top, bottom = int(max(min(y0, y1) - width, 0)), int(min(max(y0, y1) + width, frame.shape[0] - 1))
    if left > right or top > bottom:
        return
    ys, xs = np.mgrid[top : bottom + 1, left : right + 1]
    along = (xs - x0) * direction[0] + (ys - y0) * direction[1]
    across = np.abs((xs - x0) * direction[1] - (ys - y0) * direction[0])
    mask = (along >= 0) & (along <= length) & (across <= width / 2)
    frame[top : bottom + 1, left : right + 1][mask] = color


def _fill_disc(frame, cx: float, cy: float, radius: float, color) -> None:
    left, top = int(max(cx - radius, 0)), int(max(cy - radius, 0))
    right, bottom = int(min(cx + radius, frame.shape[1] - 1)), int(min(cy + radius, frame.shape[0] - 1))
    ys, xs = np.ogrid[top : bottom + 1, left : right + 1]
    frame[top : bottom + 1, left : right + 1][(xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2] = color
