"""What the worker does while the page loads and the participant reads the Start screen."""

from __future__ import annotations

import importlib
import itertools
import random
from collections.abc import Iterator
from typing import Any

from gymcast_runtime.shim import install_multiprocessing_stub


def preload(modules: list[str]) -> None:
    """Import numpy, gymnasium, the games' own modules (env creators, drawing functions), and the
    runtime's modules a game uses."""
    install_multiprocessing_stub()
    runtime = ["gymcast_runtime.bridge", "gymcast_runtime.session", "gymcast_runtime.draw", "gymcast_runtime.pruned"]
    for name in ["numpy", "gymnasium", *runtime, *modules]:
        importlib.import_module(name)


def game_modules(games: dict[str, dict[str, Any]]) -> list[str]:
    """The modules the games name (env creators, drawing functions), which the worker preloads."""
    refs = [
        ref
        for config in games.values()
        for ref in (
            config["env"].get("creator"),
            config["rendering"].get("frame_fn"),
            config["rendering"].get("objects_fn"),
        )
    ]
    return sorted({ref.split(":")[0] for ref in refs if ref})


def after_restore() -> None:
    """Make a Python restored from a memory snapshot its own: fresh global `random` and `numpy.random`
    states (the snapshot froze the maker's), and a check that numpy still computes."""
    import numpy as np

    random.seed()
    np.random.seed()
    if int(np.arange(5).sum()) != 10 or float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2)) != 4.0:
        raise RuntimeError("numpy gives wrong answers after the restore")


def exercising(config: dict[str, Any], steps: int, seed: int = 0) -> Iterator[list[dict[str, Any]]]:
    """Play `steps` random steps of a game on a new env with every per-step call the worker makes
    (frames, hashes, snapshots), yielding each step's ONNX requests so the caller can run them too."""
    from gymcast_runtime.draw import objects_json
    from gymcast_runtime.session import GameSession

    session = GameSession(config)
    session.reset(seed)
    for step in range(steps):
        requests = session.policy_requests()
        actions = session.random_actions()
        record = session.step(actions)
        if session.objects_fn:
            objects_json(session.objects())
        else:
            session.frame()
        session.obs_hash()
        if step % 50 == 0 and config.get("multiplayer"):  # only networked play moves env state
            session.restore(session.snapshot())
        if record["terminated"] or record["truncated"]:
            session.end_episode({agent: 0.0 for agent in session.agents})
            session.reset(seed + step + 1, episode=1)
        yield requests


class WarmUp:
    """Plays each game on a throwaway env, one step per call and the games in turn (every game's first step
    comes first: the page offers Start once they are played, so an env that fails stops the page first),
    so the first real steps run at speed: V8 has tiered up the wasm they call and Python's
    caches are filled. A call leaves the global `random` and `numpy.random` states as it found them,
    so the real run (and its replay) cannot tell a warm-up happened."""

    def __init__(self, configs: list[dict[str, Any]], steps_per_game: int) -> None:
        self._steps = in_turn([exercising(config, steps_per_game) for config in configs])
        self.steps_played = 0

    def step_json(self) -> str | None:
        """Play one step: its ONNX requests as JSON (see `requests_to_json`), or None once every game is done."""
        import numpy as np

        from gymcast_runtime.bridge import requests_to_json

        saved = random.getstate(), np.random.get_state()
        try:
            requests = next(self._steps, None)
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
        if requests is None:
            return None
        self.steps_played += 1
        return requests_to_json(requests)


_GAP = object()


def in_turn(iterators: list[Iterator[Any]]) -> Iterator[Any]:
    """One item of each iterator in turn, until every one is exhausted."""
    for items in itertools.zip_longest(*iterators, fillvalue=_GAP):
        yield from (item for item in items if item is not _GAP)
