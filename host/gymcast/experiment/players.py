"""Who controls each agent. Today: a human at the keyboard."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gymcast.experiment.checks import check_json
from gymcast.experiment.errors import ConfigError

#: Named `KeyboardEvent.key` values accepted in key maps; any single character is accepted too.
NAMED_KEYS = frozenset(
    "ArrowLeft ArrowRight ArrowUp ArrowDown Enter Tab Escape Backspace Shift Control Alt Meta "
    "Home End PageUp PageDown Insert Delete".split()
)
_COMMON_MISTAKES = {"left": "ArrowLeft", "right": "ArrowRight", "up": "ArrowUp", "down": "ArrowDown",
                    "space": "' '", "spacebar": "' '", "enter": "Enter", "esc": "Escape", "return": "Enter"}


@dataclass(frozen=True)
class Human:
    """A participant at the keyboard.

    Args:
        keys: browser key name (`KeyboardEvent.key`, e.g. "ArrowLeft", "a", " ") -> env action.
        default_action: the action taken on a step when no mapped key applies.
    """

    keys: dict[str, Any] = field(default_factory=dict)
    default_action: Any = 0

    def validate(self, where: str) -> None:
        """Raise ConfigError for an empty key map, unknown key names, or non-JSON actions."""
        if not isinstance(self.keys, dict) or not self.keys:
            raise ConfigError(f"{where}.keys", "the key map is empty", 'map at least one key, e.g. {"ArrowLeft": 0}')
        for key, action in self.keys.items():
            if not isinstance(key, str) or not (len(key) == 1 or key in NAMED_KEYS):
                hint = _COMMON_MISTAKES.get(str(key).lower())
                fix = f"use {hint}" if hint else "use KeyboardEvent.key names such as 'ArrowLeft', 'a' or ' ' (space)"
                raise ConfigError(f"{where}.keys", f"{key!r} is not a browser key name", fix)
            check_json(f"{where}.keys[{key!r}]", action)
        check_json(f"{where}.default_action", self.default_action)

    def to_manifest(self) -> dict[str, Any]:
        """The JSON the browser runtime reads."""
        return {"type": "human", "keys": dict(self.keys), "default_action": self.default_action}
