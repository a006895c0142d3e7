"""Runs the experiment's env natively once, so config mistakes fail the build, not the participant."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gymcast.bundler.env_spec import recorded_spec
from gymcast.experiment.errors import ConfigError, traceback_tail
from gymcast.native_policies import NativePolicies
from gymcast_runtime.draw import objects_json
from gymcast_runtime.refs import import_ref
from gymcast_runtime.session import GameSession, coerce_action

SMOKE_STEPS = 50


def check_game_natively(
    game: dict[str, Any], model_path: Callable[[dict[str, Any]], Path] | None = None
) -> dict[str, Any]:
    """Run the game natively: check actions, ONNX tensors and frames, then a short smoke episode.

    Adds each ONNX player's tensor names (`inputs`, `outputs`) to `game`; returns
    `{"frame": [h, w]}`. Records a registered env id's spec in `game["env"]["spec"]` (see `env_spec`).
    Raises ConfigError naming the field for any mismatch, and for an exception from the env's code
    (with the last lines of its traceback).
    """
    env_field = "environment.env_creator" if game["env"].get("creator") else "environment.env_id"
    if not game["env"].get("creator"):
        game["env"]["spec"] = recorded_spec(game["env"]["id"])
    policies = NativePolicies(game, model_path or (lambda spec: Path(spec["model"])))
    for agent in policies.sessions:
        game["players"][agent].update(policies.tensor_names(agent))
    if game.get("callbacks"):
        try:
            import_ref(game["callbacks"])()
        except Exception as error:
            raise ConfigError(
                "callbacks",
                f"{game['callbacks']} could not be imported and created: {type(error).__name__}: {error}",
                "reference a Callback subclass that takes no constructor arguments",
            ) from error
    try:
        session = GameSession(game)
    except Exception as error:  # the researcher's env code can raise anything
        raise ConfigError(
            env_field,
            f"creating the env failed: {type(error).__name__}: {error}",
            "make sure the env can be created natively with the same arguments (see the traceback below)",
            traceback_tail(error),
        ) from error
    humans = {agent: player for agent, player in game["players"].items() if player["type"] == "human"}
    for agent, player in humans.items():
        space = session.adapter.action_space(agent)
        actions = {**player["keys"], "<default_action>": player["default_action"]}
        for key, action in actions.items():
            if action is None and key == "<default_action>":
                continue  # turn-based play: no default action (the builder allows None only there)
            where = (
                f"players[{agent!r}].default_action"
                if key == "<default_action>"
                else f"players[{agent!r}].keys[{key!r}]"
            )
            try:
                valid = space.contains(coerce_action(space, action))
            except (TypeError, ValueError):
                valid = False
            if not valid:
                raise ConfigError(
                    where,
                    f"action {action!r} is not in the env's action space {space}",
                    f"use an action that {space} contains",
                )
    defaults = {agent: player["default_action"] for agent, player in humans.items()}

    def moves(target: GameSession) -> dict[str, Any]:
        """The humans' actions for `target`'s next smoke step: their defaults, or in turn-based play a legal move."""
        if game["gameplay"].get("input_mode") != "turns":
            return defaults
        return {agent: _legal_move(target, agent, humans[agent]) for agent in target.to_move() if agent in humans}

    logits = {
        agent: game["players"][agent].get("logits") or game["players"][agent]["outputs"][0]
        for agent in policies.sessions
    }
    doing = "reset(seed=0)"
    try:
        session.reset(seed=0)
        requests = session.policy_requests()
        policies.check_shapes(requests, {a: session.adapter.action_space(a) for a in policies.sessions}, logits)
        doing = "step 1"
        session.step(moves(session), policies.run(requests))
        if game.get("multiplayer"):
            doing = "saving and restoring its state"
            _check_snapshot(session, moves, policies)
        for step in range(SMOKE_STEPS):
            doing = f"step {step + 2}"
            record = session.step(moves(session), policies.run(session.policy_requests()))
            if record["terminated"] or record["truncated"]:
                break
        doing = "the end of the episode"
        session.end_episode({agent: 0.0 for agent in game["players"]})
        session.page("visible")
    except ConfigError:
        raise
    except TypeError as error:
        if "callback" not in str(error):
            raise _env_error(env_field, doing, error) from error
        raise ConfigError("callbacks", str(error), "return a dict of JSON values, or None, from every hook") from error
    except Exception as error:  # the researcher's env code can raise anything
        raise _env_error(env_field, doing, error) from error
    if session.objects_fn is not None:
        try:
            objects_json(session.objects())
        except Exception as error:
            raise ConfigError(
                "rendering.objects_fn",
                f"drawing the env failed: {type(error).__name__}: {error}",
                "return a list of gymcast_runtime.draw objects from objects_fn",
                traceback_tail(error),
            ) from error
        return {"frame": None, "needs_pygame": False}  # objects are drawn by the page, never by pygame
    try:
        frame = session.frame()
    except Exception as error:
        raise ConfigError(
            "rendering.frame_fn",
            f"rendering a frame failed: {type(error).__name__}: {error}",
            "return a (height, width, 3) uint8 array from frame_fn, or make env.render() do so",
            traceback_tail(error),
        ) from error
    return {
        "frame": [int(frame.shape[0]), int(frame.shape[1])],
        "needs_pygame": _renders_with_pygame(session),  # frames drawn by env.render() with pygame
    }


def _legal_move(session: GameSession, agent: str, player: dict[str, Any]) -> Any:
    """A legal action of human `agent` now: its default, else the first legal one of its keys, else of its mask."""
    for action in [player["default_action"], *player["keys"].values()]:
        if action is not None and session.is_legal(agent, action):
            return action
    mask = session.action_mask(agent)
    return mask.index(1) if mask and 1 in mask else next(iter(player["keys"].values()))


def _env_classes(session: GameSession) -> list[type]:
    """The classes of the env and of every env it wraps."""
    classes, env, seen = [], session.env, set()
    while env is not None and id(env) not in seen:
        seen.add(id(env))
        classes.append(type(env))
        env = vars(env).get("env") if hasattr(env, "__dict__") else None
    return classes


def _renders_with_pygame(session: GameSession) -> bool:
    """Whether the game's frames come from an env.render() that uses pygame (gymnasium's own renderers)."""
    if session.config["rendering"].get("frame_fn"):
        return False
    for cls in _env_classes(session)[-1].__mro__:  # the innermost env: wrappers only forward render()
        render = vars(cls).get("render")
        if render is not None:
            try:
                return "pygame" in inspect.getsource(render)
            except (OSError, TypeError):
                return False
    return False


def _env_error(field: str, doing: str, error: Exception) -> ConfigError:
    """An exception from the env's code during the native check, as a ConfigError with its traceback's end."""
    return ConfigError(
        field,
        f"the env raised {type(error).__name__} at {doing} of the build's native check: {error}",
        "fix the code at the end of the traceback below (it would fail the same way in the browser)",
        traceback_tail(error),
    )


SNAPSHOT_STEPS = 5


def _check_snapshot(
    session: GameSession, moves: Callable[[GameSession], dict[str, Any]], policies: NativePolicies
) -> None:
    """Networked games repair desyncs and let players rejoin by moving env state as data: check that it
    saves, and that the same session and a new one (a rejoining browser) both continue identically from it."""
    from gymcast_runtime.env_state import StateError

    needs = "networked play (.multiplayer) moves the env's state between browsers as data"
    try:
        blob = session.snapshot()
    except StateError as error:
        raise ConfigError("environment", str(error), needs) from None

    def run(player: GameSession) -> list[str]:
        hashes = []
        for _ in range(SNAPSHOT_STEPS):
            player.step(moves(player), policies.run(player.policy_requests()))
            hashes.append(player.obs_hash())
        return hashes

    before = run(session)
    for target, who in ((session, "the same session"), (GameSession(session.config), "a new session (a rejoin)")):
        try:
            target.restore(blob)
        except StateError as error:
            raise ConfigError(
                "environment",
                f"the env's saved state does not restore into {who}: {error}",
                "create every attribute in __init__ or reset, or define get_state() and set_state(state) on the env",
            ) from None
        if run(target) != before:
            raise ConfigError(
                "environment",
                f"the env does not continue the same way after its saved state is restored into {who}",
                "define get_state() and set_state(state) on the env so they capture all of its state",
            )
