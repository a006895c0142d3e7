"""The rules of a networked game, read from a built manifest's game config (the only place that reads it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_INPUT_DELAY = 30


@dataclass(frozen=True)
class GameRules:
    """A networked game as the bundle manifest describes it."""

    game: str
    seats: tuple[str, ...]
    fps: int
    seed: int | None
    wait_timeout_s: float
    on_timeout: str
    timeout_code: str
    timeout_redirect: str
    grace_s: float
    on_dropout: str
    hash_every: int
    input_delay: int | None

    @classmethod
    def from_manifest(cls, key: str, game: dict[str, Any]) -> GameRules:
        """The rules of `manifest["games"][key]`, which must be networked (see `networked_games`)."""
        rules = game["multiplayer"]
        seats = tuple(agent for agent, player in game["players"].items() if player["type"] == "human")
        return cls(
            key,
            seats,
            game["rendering"]["fps"],
            game["gameplay"].get("seed"),
            rules["wait_timeout_s"],
            rules["on_timeout"],
            rules["timeout_code"],
            rules["timeout_redirect"],
            rules["grace_s"],
            rules["on_dropout"],
            rules["hash_every"],
            rules["input_delay"],
        )

    def messages_per_s(self) -> float:
        """Twice the most a browser of this game sends a second: an action a step for every seat (its own, and
        the ones it stands in for) and a hash a step, at the game's frame rate."""
        return 2.0 * self.fps * (len(self.seats) + 1)

    def input_delay_for(self, rtts_ms: list[float]) -> int:
        """Steps of input delay: the configured value, or enough steps to cover the slowest round trip plus one."""
        if self.input_delay is not None:
            return self.input_delay
        period_ms = 1000 / self.fps
        return max(1, min(MAX_INPUT_DELAY, math.ceil((max(rtts_ms, default=0) + period_ms) / period_ms)))


def networked_games(manifest: dict[str, Any]) -> dict[str, GameRules]:
    """The rules of every networked game of a built manifest: those whose `multiplayer` is not None
    (the builder sets it to None for a game with fewer than two Human seats)."""
    return {
        key: GameRules.from_manifest(key, game)
        for key, game in manifest.get("games", {}).items()
        if game.get("multiplayer") is not None
    }
