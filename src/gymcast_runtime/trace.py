"""Build-time trace, run in Pyodide under Node: play each game briefly, then list (and compile) the Python it used.

`gymcast build` ships only these modules, as Python 3.12 bytecode (see `gymcast.bundler.slim`);
anything else is fetched from the full archive if it is ever imported (`gymcast_runtime.pruned`).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from gymcast_runtime.loading import exercising, game_modules, preload


def exercise(config: dict[str, Any], steps: int, seed: int = 0) -> None:
    """Play `steps` random steps of a game with every per-step call the worker makes (see `exercising`)."""
    for _ in exercising(config, steps, seed):
        pass


def used_sources() -> dict[str, list[str]]:
    """`{sys.path entry: [paths of the .py and extension files imported from it, relative to it]}`."""
    roots = sorted((p for p in sys.path if p), key=len, reverse=True)
    used: dict[str, set[str]] = {}
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file or getattr(getattr(module, "__spec__", None), "origin", None) == "frozen":
            continue  # built into the interpreter: nothing to ship
        root = next((r for r in roots if file.startswith(r.rstrip("/") + "/")), None)
        if root is not None:
            used.setdefault(root, set()).add(file[len(root.rstrip("/")) + 1 :])
    return {root: sorted(files) for root, files in used.items()}


def compiled(root: str, relative: str) -> bytes:
    """The Python 3.12 bytecode (.pyc bytes) of the source `root/relative`; tracebacks name that path."""
    from importlib._bootstrap_external import _code_to_timestamp_pyc  # the layout `py_compile` writes

    path = f"{root.rstrip('/')}/{relative}"
    if root.endswith(".zip"):
        with zipfile.ZipFile(root) as archive:
            raw = archive.read(relative)
    else:
        raw = Path(path).read_bytes()
    code = compile(importlib.util.decode_source(raw), path, "exec", dont_inherit=True)
    return bytes(_code_to_timestamp_pyc(code, 0, 0))


def trace(games_json: str, extra_modules_json: str, steps: int, out: str) -> None:
    """Preload, play each game, import `extra_modules` (the safety list), then write `out/trace.json` and the .pyc files."""
    games = json.loads(games_json)
    importlib.import_module("gymcast_runtime.pruned")  # the worker installs its finder before preloading
    preload(game_modules(games))  # as the worker does
    for config in games.values():
        exercise(config, steps)
    missing = []
    for name in json.loads(extra_modules_json):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    used = used_sources()
    target = Path(out)
    for root, files in used.items():
        for relative in files:
            if relative.endswith(".py"):
                pyc = target / "pyc" / root.strip("/") / (relative + "c")
                pyc.parent.mkdir(parents=True, exist_ok=True)
                pyc.write_bytes(compiled(root, relative))
    (target / "trace.json").write_text(json.dumps({"used": used, "unimportable": missing, "path": sys.path}))
