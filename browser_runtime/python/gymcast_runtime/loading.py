"""What the worker imports while the page loads, so Start shows a frame at once."""

from __future__ import annotations

import importlib

from gymcast_runtime.shim import install_multiprocessing_stub


def preload(modules: list[str]) -> None:
    """Import numpy, gymnasium and the games' own modules (env creators, drawing functions)."""
    install_multiprocessing_stub()
    for name in ["numpy", "gymnasium", *modules]:
        importlib.import_module(name)
