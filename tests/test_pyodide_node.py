"""The bundle's Python runs in Pyodide under Node and matches native CPython step for step."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CARTPOLE

RUNNER = Path(__file__).parent / "node" / "run_session.mjs"


def test_pyodide_and_native_agree_on_every_step(cartpole_bundle, monkeypatch):
    if shutil.which("node") is None:
        pytest.fail("node is missing; gymcast's tests need Node.js 20+ to run Pyodide")
    actions = [{"player": i % 2} for i in range(30)]
    result = subprocess.run(["node", str(RUNNER), str(cartpole_bundle), "77", json.dumps(actions)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    browser = json.loads(result.stdout.strip().splitlines()[-1])
    assert browser["platform"] == "emscripten"
    assert not any(step["terminated"] for step in browser["steps"])

    monkeypatch.syspath_prepend(str(CARTPOLE))
    from gymcast_runtime import GameSession

    native = GameSession(json.loads((cartpole_bundle / "manifest.json").read_text())["game"])
    assert native.reset(77) == browser["reset"]
    assert [native.step(a) for a in actions] == browser["steps"]
    height, width, channels, data = native.frame_bytes()
    assert browser["frame"] == [height, width, channels, hashlib.sha256(data).hexdigest()]
