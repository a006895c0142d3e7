"""Env state made natively restores in Pyodide (32-bit, under Node) and the other way round, and both
continue step for step; Pyodide refuses a pickle too. Runs under the Chromium lock (it is heavy)."""

from __future__ import annotations

import base64
import json
import pickle
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gymcast_runtime import GameSession

KEEPER = Path(__file__).parent / "fixtures" / "experiments" / "keeper"
RUNNER = Path(__file__).parent / "node" / "run_python.mjs"

IN_PYODIDE = """
import base64
import numpy as np
from gymcast_runtime import GameSession
from gymcast_runtime.env_state import StateError

game = INPUT["game"]
received = GameSession(game)  # a browser that has not played yet, as after a reload
restored = received.restore(base64.b64decode(INPUT["native_state"]))
continued = [received.step(actions) for actions in INPUT["later"]]
made = GameSession(game)
made.reset(INPUT["seed"])
for actions in INPUT["before"]:
    made.step(actions)
state = made.snapshot()
own = [made.step(actions) for actions in INPUT["later"]]
try:
    received.restore(base64.b64decode(INPUT["pickle"]))
    refused = None
except StateError as error:
    refused = str(error)
RESULT = {
    "default_int": str(np.dtype(int)),
    "heights_dtype": str(received.env.board.heights.dtype),
    "restored": restored,
    "continued": continued,
    "state": base64.b64encode(state).decode(),
    "own": own,
    "refused": refused,
}
"""


def actions(count: int, seed: int) -> list[dict[str, int]]:
    chooser = random.Random(seed)
    return [{"red": chooser.randrange(7), "yellow": chooser.randrange(7)} for _ in range(count)]


def test_state_moves_between_native_python_and_pyodide(tmp_path, monkeypatch):
    if shutil.which("node") is None:
        pytest.fail("node is missing; gymcast's tests need Node.js 20+ to run Pyodide")
    from gymcast.bundler.bundle import build_bundle

    bundle = build_bundle(KEEPER, tmp_path / "keeper").path  # its trace round-trips state in Pyodide too
    game = json.loads((bundle / "manifest.json").read_text())["game"]
    monkeypatch.syspath_prepend(str(KEEPER))
    native = GameSession(game)
    native.reset(4)
    before, later = actions(14, seed=1), actions(30, seed=2)
    for step in before:
        native.step(step)
    payload = pickle.dumps(np.zeros(2))  # any pickle: the format refuses it before reading it
    inputs = {
        "game": game,
        "seed": 4,
        "before": before,
        "later": later,
        "native_state": base64.b64encode(native.snapshot()).decode(),
        "pickle": base64.b64encode(payload).decode(),
    }
    (tmp_path / "input.json").write_text(json.dumps(inputs))
    (tmp_path / "script.py").write_text(IN_PYODIDE)
    result = subprocess.run(
        ["node", str(RUNNER), str(bundle), str(tmp_path / "script.py"), str(tmp_path / "input.json")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    browser = json.loads(result.stdout.strip().splitlines()[-1])
    assert browser["default_int"] == "int32" and browser["heights_dtype"] == "int32"  # 32-bit Pyodide
    assert browser["restored"] == {"step": 14, "episode": 0, "obs_hash": native.obs_hash()}
    assert browser["continued"] == [native.step(step) for step in later]  # native state, continued in Pyodide
    assert "not a gymcast game state" in browser["refused"]

    made_there = base64.b64decode(browser["state"])
    assert b'"heights":{"$":"a","d":"int"' in made_there
    received = GameSession(game)
    assert received.restore(made_there)["step"] == 14
    assert received.env.board.heights.dtype == np.dtype(int)  # 64-bit here
    assert [received.step(step) for step in later] == browser["own"]  # Pyodide's state, continued natively
