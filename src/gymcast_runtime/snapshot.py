"""Serialized env state, so one browser can hand its game to another (desync repair, rejoining).

An env that defines `get_state() -> object` and `set_state(state)` on its unwrapped class is
saved with those. Otherwise every layer of the wrapper stack (gymnasium and PettingZoo wrappers
keep the wrapped env in `.env`) is saved as its attributes, pickled.
"""

from __future__ import annotations

import pickle
from typing import Any

WRAPPED = "env"


class SnapshotError(ValueError):
    """The env's state cannot be saved; the message names the attribute and the fix."""


def layers(env: Any) -> list[Any]:
    """The env and every env it wraps, outermost first."""
    chain = [env]
    inner = vars(env).get(WRAPPED)
    while inner is not None and not any(inner is seen for seen in chain):
        chain.append(inner)
        inner = vars(inner).get(WRAPPED)
    return chain


def _attributes(layer: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(layer).items() if name != WRAPPED}


def _custom(layer: Any) -> bool:
    """Whether the layer's class defines get_state/set_state (looked up on the class, so a wrapper that
    forwards unknown attributes to its env is not mistaken for the env)."""
    return callable(getattr(type(layer), "get_state", None)) and callable(getattr(type(layer), "set_state", None))


def save_state(env: Any, extra: dict[str, Any] | None = None) -> bytes:
    """The state of `env` (plus `extra` values) as bytes; raises SnapshotError naming what cannot be saved."""
    parts = [("custom", layer.get_state()) if _custom(layer) else ("vars", _attributes(layer)) for layer in layers(env)]
    try:
        return pickle.dumps({"layers": parts, "extra": extra or {}}, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise SnapshotError(_explain(env, extra or {}, error)) from error


def load_state(env: Any, blob: bytes) -> dict[str, Any]:
    """Put `env` back into a state from `save_state`; returns the `extra` values saved with it."""
    saved = pickle.loads(blob)
    chain = layers(env)
    if len(chain) != len(saved["layers"]):
        raise SnapshotError(
            f"the snapshot has {len(saved['layers'])} env layers, this env has {len(chain)}; "
            "both browsers must build the env with the same wrappers"
        )
    for layer, (kind, state) in zip(chain, saved["layers"]):
        if kind == "custom":
            layer.set_state(state)
        else:
            inner = getattr(layer, WRAPPED, None)
            vars(layer).clear()
            vars(layer).update(state)
            if inner is not None:
                setattr(layer, WRAPPED, inner)
    return saved["extra"]


def _explain(env: Any, extra: dict[str, Any], error: Exception) -> str:
    """Which attribute could not be pickled, and how to fix it."""
    for layer in layers(env):
        if _custom(layer):
            continue
        for name, value in _attributes(layer).items():
            try:
                pickle.dumps(value)
            except Exception as failure:
                return (
                    f"the env state cannot be saved: {type(layer).__name__}.{name} ({type(value).__name__}) "
                    f"is not picklable ({failure}); define get_state() and set_state(state) on "
                    f"{type(env.unwrapped if hasattr(env, 'unwrapped') else env).__name__}, "
                    f"or keep {name} out of the env's attributes"
                )
    for name, value in extra.items():
        try:
            pickle.dumps(value)
        except Exception as failure:
            return f"the game state cannot be saved: {name} is not picklable ({failure})"
    return f"the env state cannot be saved: {type(error).__name__}: {error}"
