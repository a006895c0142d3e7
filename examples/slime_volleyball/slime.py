"""Two-player Slime Volleyball as a gymnasium env, with the physics of slimevolleygym (David Ha, 2020).

Units are the reference game's: the court is 48 wide, x = 0 is the net, y = 0 the floor. The same
constants and the same order of floating-point operations make every position match the
reference exactly (tests/test_slime_parity.py checks this against the slimevolleygym package).

Agents "left" and "right" each choose one of six actions per step (`ACTIONS`); each sees 12
numbers from its own side (itself, the ball, the opponent; x mirrored for the left player, all
divided by 10). A point won is +1 for the scorer and -1 for the other. The episode ends when a
player has lost all `LIVES` or after `max_steps` steps.
"""

from __future__ import annotations

import math

import gymnasium
import numpy as np

COURT_WIDTH = 48.0
GROUND = 1.5  # height of the floor surface
NET_WIDTH = 1.0
NET_HEIGHT = 3.5
SPEED_X = 10 * 1.75  # written as the reference computes each constant, so the floats are identical
SPEED_Y = 10 * 1.35
MAX_BALL_SPEED = 15 * 1.5
DT = 1 / 30.0
NUDGE = 0.1
GRAVITY = -9.8 * 2 * 1.5
SERVE_DELAY_STEPS = 30
LIVES = 5
SLIME_RADIUS = 1.5
BALL_RADIUS = 0.5

#: action index -> (forward, backward, jump); "forward" is towards the net.
ACTIONS = ((0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1), (0, 1, 1), (0, 1, 0))
AGENTS = ("left", "right")


class Body:
    """A disc with position and velocity: the ball, and the round top of the net."""

    def __init__(self, x: float, y: float, vx: float, vy: float, r: float) -> None:
        self.x, self.y, self.vx, self.vy, self.r = x, y, vx, vy, r
        self.prev_x, self.prev_y = x, y

    def move(self) -> None:
        self.prev_x, self.prev_y = self.x, self.y
        self.x += self.vx * DT
        self.y += self.vy * DT

    def accelerate(self, ax: float, ay: float) -> None:
        self.vx += ax * DT
        self.vy += ay * DT

    def bounce_off_walls(self) -> int:
        """Bounce off the walls, ceiling and net; returns -1 or 1 when the ball lands left or right of the net."""
        if self.x <= self.r - COURT_WIDTH / 2:
            self.vx *= -1.0
            self.x = self.r - COURT_WIDTH / 2 + NUDGE * DT
        if self.x >= COURT_WIDTH / 2 - self.r:
            self.vx *= -1.0
            self.x = COURT_WIDTH / 2 - self.r - NUDGE * DT
        if self.y <= self.r + GROUND:
            self.vy *= -1.0
            self.y = self.r + GROUND + NUDGE * DT
            return -1 if self.x <= 0 else 1
        if self.y >= COURT_WIDTH - self.r:
            self.vy *= -1.0
            self.y = COURT_WIDTH - self.r - NUDGE * DT
        if self.x <= NET_WIDTH / 2 + self.r and self.prev_x > NET_WIDTH / 2 + self.r and self.y <= NET_HEIGHT:
            self.vx *= -1.0
            self.x = NET_WIDTH / 2 + self.r + NUDGE * DT
        if self.x >= -NET_WIDTH / 2 - self.r and self.prev_x < -NET_WIDTH / 2 - self.r and self.y <= NET_HEIGHT:
            self.vx *= -1.0
            self.x = -NET_WIDTH / 2 - self.r - NUDGE * DT
        return 0

    def touches(self, other: Body | Slime) -> bool:
        reach = self.r + other.r
        dx, dy = other.x - self.x, other.y - self.y
        return reach * reach > dx * dx + dy * dy

    def bounce_off(self, other: Body | Slime) -> None:
        """Step out of `other` along the line between centres, then reflect the relative velocity."""
        nx, ny = self.x - other.x, self.y - other.y
        length = math.sqrt(nx * nx + ny * ny)
        nx /= length
        ny /= length
        while self.touches(other):
            self.x += nx * NUDGE
            self.y += ny * NUDGE
        ux, uy = self.vx - other.vx, self.vy - other.vy
        along = ux * nx + uy * ny
        ux -= nx * (along * 2.0)
        uy -= ny * (along * 2.0)
        self.vx, self.vy = ux + other.vx, uy + other.vy

    def cap_speed(self, top: float) -> None:
        squared = self.vx * self.vx + self.vy * self.vy
        if squared > top * top:
            speed = math.sqrt(squared)
            self.vx = self.vx / speed * top
            self.vy = self.vy / speed * top


class Slime:
    """A player: a half disc that runs and jumps on its own side of the net."""

    def __init__(self, side: int) -> None:
        self.side = side  # -1 left, +1 right
        self.x, self.y, self.r = side * COURT_WIDTH / 4, GROUND, SLIME_RADIUS
        self.vx = self.vy = 0.0
        self.want_vx = self.want_vy = 0.0
        self.lives = LIVES

    def act(self, action: int) -> None:
        forward, backward, jump = ACTIONS[action]
        self.want_vx = -SPEED_X if forward and not backward else SPEED_X if backward and not forward else 0.0
        self.want_vy = SPEED_Y if jump else 0.0

    def update(self) -> None:
        self.vy += GRAVITY * DT
        if self.y <= GROUND + NUDGE * DT:
            self.vy = self.want_vy
        self.vx = self.want_vx * self.side
        self.x += self.vx * DT
        self.y += self.vy * DT
        if self.y <= GROUND:
            self.y, self.vy = GROUND, 0.0
        if self.x * self.side <= NET_WIDTH / 2 + self.r:
            self.vx, self.x = 0.0, self.side * (NET_WIDTH / 2 + self.r)
        if self.x * self.side >= COURT_WIDTH / 2 - self.r:
            self.vx, self.x = 0.0, self.side * (COURT_WIDTH / 2 - self.r)

    def observe(self, ball: Body, opponent: Slime) -> np.ndarray:
        """What this player sees, from its side of the net, scaled by 1/10."""
        s = self.side
        return (
            np.array(
                [
                    self.x * s,
                    self.y,
                    self.vx * s,
                    self.vy,
                    ball.x * s,
                    ball.y,
                    ball.vx * s,
                    ball.vy,
                    opponent.x * -s,
                    opponent.y,
                    opponent.vx * -s,
                    opponent.vy,
                ]
            )
            / 10.0
        )


class SlimeVolleyball(gymnasium.Env):
    """Left against right; dict actions and observations keyed "left" and "right"."""

    metadata = {"render_modes": []}

    def __init__(self, max_steps: int = 3000) -> None:
        self.max_steps = max_steps
        box = gymnasium.spaces.Box(-np.inf, np.inf, shape=(12,), dtype=np.float32)
        self.observation_space = gymnasium.spaces.Dict({agent: box for agent in AGENTS})
        self.action_space = gymnasium.spaces.Dict({agent: gymnasium.spaces.Discrete(len(ACTIONS)) for agent in AGENTS})
        self.net_top = Body(0.0, NET_HEIGHT, 0.0, 0.0, NET_WIDTH / 2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.left, self.right = Slime(-1), Slime(1)
        self.steps = 0
        self.last_point: str | None = None
        self._serve()
        return self._observations(), {}

    def _serve(self) -> None:
        vx = self.np_random.uniform(low=-20, high=20)
        vy = self.np_random.uniform(low=10, high=25)
        self.ball = Body(0.0, COURT_WIDTH / 4, vx, vy, BALL_RADIUS)
        self.serve_delay = SERVE_DELAY_STEPS

    def step(self, actions: dict):
        self.steps += 1
        self.left.act(int(actions["left"]))
        self.right.act(int(actions["right"]))
        landed = self._advance()
        rewards = {"left": float(landed), "right": float(-landed)}
        if landed:
            loser = self.left if landed < 0 else self.right
            loser.lives -= 1
            self.last_point = "right" if landed < 0 else "left"
        terminated = self.left.lives <= 0 or self.right.lives <= 0
        return self._observations(), rewards, terminated, self.steps >= self.max_steps, {"lives": self.lives()}

    def _advance(self) -> int:
        """One physics step; -1 or 1 when the ball landed on the left or right half (the serve restarts)."""
        self.left.update()
        self.right.update()
        if self.serve_delay == 0:
            self.ball.accelerate(0, GRAVITY)
            self.ball.cap_speed(MAX_BALL_SPEED)
            self.ball.move()
        else:
            self.serve_delay -= 1
        for obstacle in (self.left, self.right, self.net_top):
            if self.ball.touches(obstacle):
                self.ball.bounce_off(obstacle)
        landed = self.ball.bounce_off_walls()
        if landed:
            self._serve()
        return landed

    def lives(self) -> dict[str, int]:
        return {"left": self.left.lives, "right": self.right.lives}

    def _observations(self) -> dict[str, np.ndarray]:
        return {
            "left": self.left.observe(self.ball, self.right).astype(np.float32),
            "right": self.right.observe(self.ball, self.left).astype(np.float32),
        }


def make_slime_volleyball(**kwargs) -> SlimeVolleyball:
    """The env factory the experiments reference."""
    return SlimeVolleyball(**kwargs)
