"""Function references the browser can import: `"package.module:function"`."""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from typing import Any

from gymcast.experiment.errors import ConfigError

REF_PATTERN = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
#: The module name an experiment file is loaded under when its name is not a module name: refs into it
#: cannot resolve in the browser. Otherwise the file loads (and ships) under its own name, e.g. `experiment`.
UNIMPORTABLE_EXPERIMENT = "__gymcast_experiment__"


def experiment_module_name(file_name: str) -> str:
    """The module name an experiment file loads and ships under: `experiment.py` -> `experiment`."""
    stem = file_name.removesuffix(".py")
    return stem if stem.isidentifier() and not keyword.iskeyword(stem) else UNIMPORTABLE_EXPERIMENT


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
    if module in (UNIMPORTABLE_EXPERIMENT, "__main__"):
        raise ConfigError(
            field,
            f"{qualname} is defined in a file whose name is not a Python module name, so the browser cannot import it",
            f"rename the file (e.g. to experiment.py), or move {qualname} into a module next to it",
        )
    if not module or "<" in qualname:
        raise ConfigError(
            field,
            f"{qualname or value!r} is a lambda or a nested function",
            "define it at the top level of a module next to experiment.py",
        )
    return f"{module}:{qualname}"
