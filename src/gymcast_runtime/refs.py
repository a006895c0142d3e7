"""Imports `"package.module:attribute"` references."""

from __future__ import annotations

import importlib
from typing import Any


def import_ref(ref: str) -> Any:
    """Return the object that `"module:attr.path"` names."""
    module_name, _, attr_path = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        target = getattr(target, part)
    return target
