"""Game configs (a bundle manifest's `games` entries) as both the host and the browser read them."""

from __future__ import annotations

from typing import Any


def fallback_specs(game: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A game config's multiplayer fallbacks, {agent: player dict} ({} when it has none)."""
    return (game.get("multiplayer") or {}).get("fallbacks") or {}


def with_fallbacks(game: dict[str, Any], seats: list[str]) -> dict[str, Any]:
    """`game` with the Human `seats` played by their fallbacks (the player dicts are shared, not copied)."""
    fallbacks = fallback_specs(game)
    return {
        **game,
        "players": {agent: fallbacks[agent] if agent in seats else player for agent, player in game["players"].items()},
    }


def played_alone(game: dict[str, Any], seats: list[str]) -> dict[str, Any]:
    """`game` as one person plays it when no partner came: the other Human `seats` played by their
    fallbacks, and no networked play."""
    return {**with_fallbacks(game, seats), "multiplayer": None}


def policy_specs(game: dict[str, Any]) -> list[dict[str, Any]]:
    """Every AI player dict of a game config, its multiplayer fallbacks included."""
    return [spec for spec in [*game["players"].values(), *fallback_specs(game).values()] if spec["type"] != "human"]
