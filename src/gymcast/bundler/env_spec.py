"""Records a registered env id's spec in the game config, so the browser can make it without its registering import."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from gymcast.experiment.errors import ConfigError

FIELD = "environment.env_id"


def recorded_spec(env_id: str) -> dict[str, Any]:
    """The spec `env_id` is registered with here (after experiment.py ran), as the JSON `EnvSpec.to_json` writes.

    A package that registers ids on import (minigrid, ...) is imported by experiment.py natively, but
    the browser never imports experiment.py for that; `gymcast_runtime.envs.make_env` registers the
    recorded spec instead. Raises ConfigError for an unknown id or a spec that is not JSON.
    """
    import gymnasium

    try:
        spec = gymnasium.spec(env_id)
    except gymnasium.error.Error as error:
        raise ConfigError(
            FIELD,
            f"{env_id!r} is not a registered env id ({type(error).__name__}: {error})",
            "import the package that registers it at the top of experiment.py (e.g. `import minigrid`), "
            "or pass env_creator=...",
        ) from None
    spec = dataclasses.replace(
        spec, entry_point=_as_ref(spec.entry_point), vector_entry_point=_as_ref(spec.vector_entry_point)
    )
    try:
        return json.loads(spec.to_json())
    except (ValueError, TypeError) as error:
        raise ConfigError(
            FIELD,
            f"the registered spec of {env_id!r} cannot be written as JSON ({error})",
            "register it with JSON kwargs and a 'module:attribute' entry point, or pass env_creator=...",
        ) from None


def _as_ref(entry_point: Any) -> Any:
    """A callable entry point as its `"module:qualname"` string; strings and None stay."""
    if entry_point is None or isinstance(entry_point, str):
        return entry_point
    module, qualname = getattr(entry_point, "__module__", None), getattr(entry_point, "__qualname__", "")
    if not module or "<" in qualname:
        raise ConfigError(
            FIELD,
            f"the registered entry point {entry_point!r} is a lambda or a nested function",
            "register a top-level function or class, or pass env_creator=...",
        )
    return f"{module}:{qualname}"
