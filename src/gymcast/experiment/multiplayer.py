"""Networked play between people: matchmaking, sync and dropout rules for games with several Human seats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gymcast.experiment.checks import check_choice, check_int
from gymcast.experiment.errors import ConfigError
from gymcast.experiment.players import Human, OnnxPolicy, Player, PythonPolicy, RandomPolicy

ON_TIMEOUT = ("ai", "end")
ON_DROPOUT = ("ai", "default_action", "end")


@dataclass(frozen=True)
class Multiplayer:
    """How people are grouped and kept in sync; see `Experiment.multiplayer`."""

    wait_timeout_s: int = 120
    on_timeout: str = "end"
    timeout_code: str = ""
    timeout_redirect: str = ""
    grace_s: int = 30
    on_dropout: str = "default_action"
    fallbacks: dict[str, Player] = field(default_factory=dict)
    hash_every: int = 30
    input_delay: int | None = None

    def validate(self) -> None:
        """Raise ConfigError for a bad field (seats are checked against the players in `check_seats`)."""
        check_int("multiplayer.wait_timeout_s", self.wait_timeout_s, 1, 3600)
        check_choice("multiplayer.on_timeout", self.on_timeout, ON_TIMEOUT)
        check_int("multiplayer.grace_s", self.grace_s, 0, 600)
        check_choice("multiplayer.on_dropout", self.on_dropout, ON_DROPOUT)
        check_int("multiplayer.hash_every", self.hash_every, 1, 10_000)
        if self.input_delay is not None:
            check_int("multiplayer.input_delay", self.input_delay, 0, 60)
        for name, text in (("timeout_code", self.timeout_code), ("timeout_redirect", self.timeout_redirect)):
            if not isinstance(text, str):
                raise ConfigError(f"multiplayer.{name}", f"expected a string, got {text!r}", 'pass e.g. "C1234PART"')
        if self.timeout_redirect and not self.timeout_redirect.startswith(("http://", "https://")):
            raise ConfigError(
                "multiplayer.timeout_redirect",
                f"{self.timeout_redirect!r} is not an http(s) URL",
                'pass e.g. "https://app.prolific.com/submissions/complete?cc=C1234PART"',
            )
        if not isinstance(self.fallbacks, dict):
            raise ConfigError(
                "multiplayer.fallbacks",
                f"expected a dict of agent -> policy, got {self.fallbacks!r}",
                'pass e.g. {"left": OnnxPolicy(model="policies/partner.onnx")}',
            )
        for agent, player in self.fallbacks.items():
            if not isinstance(player, (OnnxPolicy, PythonPolicy, RandomPolicy)):
                raise ConfigError(
                    f"multiplayer.fallbacks[{agent!r}]",
                    f"expected an AI policy, got {type(player).__name__}",
                    "use OnnxPolicy(...), PythonPolicy(...) or RandomPolicy()",
                )
            player.validate(f"multiplayer.fallbacks[{agent!r}]")

    def check_seats(self, players: dict[str, Player]) -> None:
        """Every fallback names a Human seat, and "ai" rules have a fallback for every Human seat."""
        humans = [agent for agent, player in players.items() if isinstance(player, Human)]
        for agent in self.fallbacks:
            if agent not in humans:
                raise ConfigError(
                    f"multiplayer.fallbacks[{agent!r}]",
                    f"{agent!r} is not a Human seat; Human seats: {humans}",
                    "give fallbacks only for agents played by people",
                )
        needs_ai = [
            rule for rule, value in (("on_timeout", self.on_timeout), ("on_dropout", self.on_dropout)) if value == "ai"
        ]
        missing = [agent for agent in humans if agent not in self.fallbacks]
        if needs_ai and missing:
            raise ConfigError(
                f"multiplayer.{needs_ai[0]}",
                f'"ai" needs a fallback policy for every Human seat; missing {missing}',
                f"pass fallbacks={{{missing[0]!r}: OnnxPolicy(model=...)}}, or choose another rule",
            )

    def to_manifest(self) -> dict[str, Any]:
        """The JSON the host and the browser runtime read."""
        return {
            "wait_timeout_s": self.wait_timeout_s,
            "on_timeout": self.on_timeout,
            "timeout_code": self.timeout_code,
            "timeout_redirect": self.timeout_redirect,
            "grace_s": self.grace_s,
            "on_dropout": self.on_dropout,
            "fallbacks": {agent: player.to_manifest() for agent, player in self.fallbacks.items()},
            "hash_every": self.hash_every,
            "input_delay": self.input_delay,
        }


def networked(game: dict[str, Any]) -> bool:
    """Whether a game config is played by several people over the relay."""
    humans = [player for player in game["players"].values() if player["type"] == "human"]
    return bool(game.get("multiplayer")) and len(humans) >= 2
