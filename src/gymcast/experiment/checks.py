"""Small validators shared by the experiment builder; each raises ConfigError naming the field."""

from __future__ import annotations

import json
from typing import Any

from gymcast.experiment.errors import ConfigError


def check_int(field: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """`value` as an int in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, f"expected a whole number, got {value!r}", f"pass an int such as {max(minimum, 1)}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(field, f"{value} is out of range", f"pass a number {bounds}")
    return value


def check_choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    """`value`, which must be one of `choices`."""
    if value not in choices:
        raise ConfigError(field, f"unknown value {value!r}", "use one of " + ", ".join(repr(c) for c in choices))
    return value


def check_json(field: str, value: Any) -> Any:
    """`value`, which must survive a JSON round trip (it is written into the bundle manifest)."""
    try:
        if json.loads(json.dumps(value)) != value:
            raise TypeError("changes in a JSON round trip")
    except (TypeError, ValueError) as error:
        raise ConfigError(
            field,
            f"{value!r} cannot be stored in the bundle ({error})",
            "use plain JSON values: numbers, strings, booleans, lists and dicts with string keys",
        ) from None
    return value
