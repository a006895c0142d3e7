"""Function references the browser can import: `"package.module:function"`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gymcast.experiment.errors import ConfigError

REF_PATTERN = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
#: The module name experiment.py is loaded under; it imports gymcast, so the browser cannot import it.
EXPERIMENT_MODULE = "__gymcast_experiment__"


def to_ref(field: str, value: str | Callable[..., Any]) -> str:
    """Validate a reference given as `"module:attr"` or as a function object, and return the string."""
    if isinstance(value, str):
        if not REF_PATTERN.match(value):
            raise ConfigError(
                field, f"{value!r} is not a function reference", 'write it as "module:function", e.g. "envs:make_env"'
            )
        return value
    if not callable(value):
        raise ConfigError(
            field,
            f"expected a function, a class or a 'module:attribute' string, got {type(value).__name__}",
            'pass the function itself, or "module:function"',
        )
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", "")
    if module in (EXPERIMENT_MODULE, "__main__"):
        raise ConfigError(
            field,
            f"{qualname} is defined in experiment.py, which the browser cannot import",
            f"move {qualname} into a module next to experiment.py (e.g. envs.py) and import it from there",
        )
    if not module or "<" in qualname:
        raise ConfigError(
            field,
            f"{qualname or value!r} is a lambda or a nested function",
            "define it at the top level of a module next to experiment.py",
        )
    return f"{module}:{qualname}"
