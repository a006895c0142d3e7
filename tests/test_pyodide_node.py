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
    result = subprocess.run(
        ["node", str(RUNNER), str(cartpole_bundle), "77", json.dumps(actions)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    browser = json.loads(result.stdout.strip().splitlines()[-1])
    assert browser["platform"] == "emscripten"
    assert not any(step["terminated"] for step in browser["steps"])

    monkeypatch.syspath_prepend(str(CARTPOLE))
    from gymcast_runtime import GameSession

    native = GameSession(json.loads((cartpole_bundle / "manifest.json").read_text())["game"])
    assert native.reset(77) == browser["reset"]
    assert [native.step(a) for a in actions] == browser["steps"]
    frame = native.frame()
    assert browser["frame"] == [*frame.shape, hashlib.sha256(frame.tobytes()).hexdigest()]


DUEL = Path(__file__).parent / "fixtures" / "experiments" / "pettingzoo_duel"


def test_a_pettingzoo_parallel_env_runs_in_pyodide_as_natively(tmp_path, monkeypatch):
    from gymcast.bundler.bundle import build_bundle

    bundle = build_bundle(DUEL, tmp_path / "duel").path
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert any(name == "pettingzoo" for name in manifest["packages"])
    actions = [{"p0": 1} for _ in range(12)]
    result = subprocess.run(
        ["node", str(RUNNER), str(bundle), "5", json.dumps(actions)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    browser = json.loads(result.stdout.strip().splitlines()[-1])

    monkeypatch.syspath_prepend(str(DUEL))
    from gymcast_runtime import GameSession

    native = GameSession(manifest["game"])
    assert native.reset(5) == browser["reset"]
    expected = []
    for action in actions:
        expected.append(native.step(action))
        if expected[-1]["terminated"]:
            break
    assert browser["steps"][: len(expected)] == expected
    assert expected[-1]["terminated"] and expected[-1]["rewards"]["p0"] == 1.0  # always forward: p0 wins
    assert {step["actions"]["p1"] for step in expected} <= {0, 1, 2}


def test_a_requirement_without_a_pure_python_wheel_is_refused(tmp_path):
    from gymcast.wheels import Fetcher, FetchError, load_pins

    with pytest.raises(FetchError, match="no pure-Python wheel"):
        Fetcher(load_pins(), cache_dir=tmp_path).requirement("numpy", "2.0.2")


def test_a_requirement_whose_dependency_is_missing_names_it(tmp_path):
    import shutil

    from conftest import CARTPOLE, environment_with, gymcast_command

    folder = tmp_path / "exp"
    shutil.copytree(CARTPOLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "experiment.py").read_text().replace(".logging(", '.requirements("rich==13.7.1")\n    .logging(')
    (folder / "experiment.py").write_text(text)
    result = subprocess.run(
        gymcast_command("build", str(folder), "-o", str(tmp_path / "out")),
        capture_output=True,
        text=True,
        env=environment_with(COLUMNS="400"),
    )
    assert result.returncode == 2
    assert "needs markdown-it-py>=2.2.0" in " ".join(result.stderr.split())
