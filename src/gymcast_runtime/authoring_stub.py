"""The `gymcast` package as the browser sees it: the authoring API, inert.

A bundle ships `experiment.py` so that functions and env classes defined in it work in the
browser. That file imports `gymcast` to describe the study, but only the host needs the
description: in the browser every name of `gymcast` and of its submodules (`gymcast.flow`, ...) is
an `Inert` builder that accepts any call or chained method and validates nothing. The bundler ships
this file as `gymcast/__init__.py` in the runtime wheel; natively the real package is used.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

__version__ = "browser"


class Inert:
    """Stands for any authoring object: calls, attributes and chained methods all return an Inert."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Inert:
        return self

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self


def __getattr__(name: str) -> Any:
    """`from gymcast import Experiment, Human`: each name is the `Inert` class."""
    if name.startswith("__"):
        raise AttributeError(name)
    return Inert


class _InertSubmodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes `gymcast.<anything>` importable as a module whose names are all `Inert`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith(__name__ + "."):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: Any) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__getattr__ = __getattr__  # type: ignore[method-assign]


if __name__ != "gymcast_runtime.authoring_stub":  # only where it stands in for gymcast
    sys.meta_path.insert(0, _InertSubmodules())
