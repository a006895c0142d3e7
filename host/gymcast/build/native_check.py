"""Runs the experiment's env natively once, so config mistakes fail the build, not the participant."""

from __future__ import annotations

from typing import Any

from gymcast.experiment.errors import ConfigError
from gymcast_runtime.refs import import_ref
from gymcast_runtime.session import GameSession, coerce_action


def check_game_natively(game: dict[str, Any]) -> dict[str, Any]:
    """Reset, step with each default action, and render one frame; return `{"frame": [h, w]}`.

    Raises ConfigError naming the field when an action is outside the env's action space or
    a frame has the wrong shape.
    """
    if game.get("callbacks"):
        try:
            import_ref(game["callbacks"])()
        except Exception as error:
            raise ConfigError("callbacks", f"{game['callbacks']} could not be imported and created: "
                              f"{type(error).__name__}: {error}",
                              "reference a Callback subclass that takes no constructor arguments") from error
    try:
        session = GameSession(game)
    except Exception as error:  # the researcher's env code can raise anything
        field = "environment.env_creator" if game["env"].get("creator") else "environment.env_id"
        raise ConfigError(field, f"creating the env failed: {type(error).__name__}: {error}",
                          "make sure the env can be created natively with the same arguments") from error
    space = session.env.action_space
    for agent, player in game["players"].items():
        actions = {**player["keys"], "<default_action>": player["default_action"]}
        for key, action in actions.items():
            where = f"players[{agent!r}].default_action" if key == "<default_action>" else f"players[{agent!r}].keys[{key!r}]"
            try:
                valid = space.contains(coerce_action(space, action))
            except (TypeError, ValueError):
                valid = False
            if not valid:
                raise ConfigError(where, f"action {action!r} is not in the env's action space {space}",
                                  f"use an action that {space} contains")
    try:
        session.reset(seed=0)
        session.step({agent: player["default_action"] for agent, player in game["players"].items()})
        session.end_episode({agent: 0.0 for agent in game["players"]})
        session.page("visible")
    except TypeError as error:
        if "callback" not in str(error):
            raise
        raise ConfigError("callbacks", str(error), "return a dict of JSON values, or None, from every hook") from error
    try:
        frame = session.frame()
    except Exception as error:
        raise ConfigError("rendering.frame_fn", f"rendering a frame failed: {type(error).__name__}: {error}",
                          "return a (height, width, 3) uint8 array from frame_fn, or make env.render() do so") from error
    return {"frame": [int(frame.shape[0]), int(frame.shape[1])]}
