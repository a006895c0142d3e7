"""Makes the browser's Python look enough like CPython for gymnasium to import."""

from __future__ import annotations

import sys
import types


def install_multiprocessing_stub() -> None:
    """Provide `_multiprocessing`, which Pyodide lacks and gymnasium's vector envs import.

    Anything that really tries to use a semaphore gets a clear NotImplementedError.
    Natively (where `_multiprocessing` exists) this does nothing.
    """
    if sys.platform != "emscripten" or "_multiprocessing" in sys.modules:
        return
    stub = types.ModuleType("_multiprocessing")

    class SemLock:  # noqa: D101 - mirrors CPython's private type
        SEM_VALUE_MAX = 2**31 - 1

        def __init__(self, *args: object, **kwargs: object) -> None:
            raise NotImplementedError("multiprocessing is not available in the browser (Pyodide)")

    def sem_unlink(name: str) -> None:
        raise NotImplementedError("multiprocessing is not available in the browser (Pyodide)")

    stub.SemLock = SemLock  # type: ignore[attr-defined]
    stub.sem_unlink = sem_unlink  # type: ignore[attr-defined]
    stub.flags = {}  # type: ignore[attr-defined]
    sys.modules["_multiprocessing"] = stub
