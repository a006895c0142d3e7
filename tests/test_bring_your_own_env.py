"""Bring your own env: one-file experiments, package-registered env ids, exact replay in Pyodide, and the
errors an env's own code raises at build time. Builds and runs Pyodide under Node: run under the shared lock."""

from __future__ import annotations

import json
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from conftest import environment_with, gymcast_command
from gymcast.experiment.errors import ConfigError
from gymcast.storage import NewSession, SQLiteEventStore

FIXTURES = Path(__file__).parent / "fixtures" / "experiments"
RUNNER = Path(__file__).parent / "node" / "run_session.mjs"


def run_in_pyodide(bundle: Path, seed: int, actions: list[dict], game: str = "main") -> dict:
    """Play the bundle's game `game` in Pyodide under Node, as the worker does: {"reset", "steps", "frame"}."""
    result = subprocess.run(
        ["node", str(RUNNER), str(bundle), str(seed), json.dumps(actions), game],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def one_file_bundle(tmp_path_factory) -> Path:
    from gymcast.bundler.bundle import build_bundle

    return build_bundle(FIXTURES / "one_file", tmp_path_factory.mktemp("one_file") / "bundle").path


def test_a_folder_with_only_experiment_py_builds_and_its_own_env_and_frames_play_in_pyodide(one_file_bundle):
    manifest = json.loads((one_file_bundle / "manifest.json").read_text())
    game = manifest["games"]["main"]
    assert game["env"]["creator"] == "experiment:Corridor"
    assert game["rendering"]["frame_fn"] == "experiment:draw_corridor"
    wheel = next(path for path in manifest["files"] if "gymcast_experiment_one_file" in path)
    assert "experiment.py" in zipfile.ZipFile(one_file_bundle / wheel).namelist()

    played = run_in_pyodide(one_file_bundle, 3, [{"walker": 1}] * 8)
    assert played["platform"] == "emscripten"
    assert played["frame"][:3] == [20, 120, 3]
    ends = [step["step"] for step in played["steps"] if step["terminated"]]
    assert ends and ends[0] <= 6  # the corridor's end, reached by walking right
    assert played["steps"][ends[0] - 1]["rewards"] == {"walker": 1.0}


def test_an_env_id_a_package_registers_on_import_plays_in_pyodide_from_the_recorded_spec(tmp_path):
    from gymcast.bundler.bundle import build_bundle

    bundle = build_bundle(FIXTURES / "registered_id", tmp_path / "bundle").path
    spec = json.loads((bundle / "manifest.json").read_text())["games"]["main"]["env"]["spec"]
    assert spec["entry_point"] == "shelf.env:Shelf" and spec["kwargs"] == {"size": 4}
    assert spec["max_episode_steps"] == 7

    played = run_in_pyodide(bundle, 1, [{"player": 1}] * 7)  # the trace already made it there, too
    assert [step["rewards"]["player"] for step in played["steps"]] == [1, 2, 3, 3, 3, 3, 3]  # size 4, from the spec
    assert [step["truncated"] for step in played["steps"]] == [False] * 6 + [True]  # its TimeLimit


def test_an_unregistered_env_id_names_the_import_that_registers_it(tmp_path):
    from gymcast.bundler.native_check import check_game_natively
    from gymcast.experiment.loader import load_experiment

    game = load_experiment(FIXTURES / "registered_id").experiment.to_manifest()
    game["env"]["id"] = "gymcast_test/Missing-v0"
    with pytest.raises(ConfigError) as caught:
        check_game_natively(game)
    assert caught.value.field == "environment.env_id"
    assert "'gymcast_test/Missing-v0' is not a registered env id" in str(caught.value)
    assert "import the package that registers it at the top of experiment.py" in str(caught.value)


def one_file_experiment(folder: Path, step_body: str, default_action: int = 1) -> Path:
    """A one-file experiment whose env's step runs `step_body` (with `self.count` and `action` in scope)."""
    folder.mkdir()
    (folder / "experiment.py").write_text(
        f"""import gymnasium
import numpy as np

from gymcast import Experiment, Human


class Fragile(gymnasium.Env):
    def __init__(self):
        self.action_space = gymnasium.spaces.Discrete(2)
        self.observation_space = gymnasium.spaces.Box(0, 100, shape=(1,), dtype=np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.count = 0
        return np.zeros(1, dtype=np.float32), {{}}

    def step(self, action):
        self.count += 1
        {step_body}
        return np.array([self.count], dtype=np.float32), 0.0, False, False, {{}}


def draw(env):
    return np.zeros((16, 16, 3), dtype=np.uint8)


experiment = (
    Experiment("fragile")
    .environment(env_creator=Fragile)
    .players({{"player": Human(keys={{"ArrowUp": 1, "ArrowDown": 0}}, default_action={default_action})}})
    .rendering(width=16, height=16, frame_fn=draw)
    .gameplay(max_steps=400)
)
"""
    )
    return folder


def build_error(folder: Path, tmp_path: Path) -> str:
    result = subprocess.run(
        gymcast_command("build", str(folder), "-o", str(tmp_path / "out")),
        capture_output=True,
        text=True,
        env=environment_with(COLUMNS="300"),
        timeout=600,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    return result.stderr[result.stderr.index("error:") :]  # after the progress bar


def test_an_env_that_raises_in_the_native_check_names_the_field_and_shows_its_traceback(tmp_path):
    folder = one_file_experiment(
        tmp_path / "exp", "if self.count == 3:\n            table = {}\n            table['x']"
    )
    message = build_error(folder, tmp_path)
    first = message.splitlines()[0]
    assert first.startswith("error: environment.env_creator: the env raised KeyError at step 3 of the build's native")
    assert "Fix: fix the code at the end of the traceback below" in " ".join(message.split())
    assert "table['x']" in message and "experiment.py" in message  # the env's own line, from its traceback
    assert "Traceback" not in first


def test_an_env_that_raises_only_in_the_trace_shows_the_pyodide_traceback(tmp_path):
    # The native check plays the default action (1); the trace's random actions reach action 0.
    folder = one_file_experiment(tmp_path / "exp", "if action == 0:\n            raise RuntimeError('no going back')")
    message = " ".join(build_error(folder, tmp_path).split())
    assert message.startswith("error: environment: the game raised an exception in Pyodide during the build's trace")
    assert "RuntimeError: no going back. Fix: fix the code at the end of the traceback below" in message
    assert "raise RuntimeError('no going back')" in message


def logged_run(store: SQLiteEventStore, session_id: str, bundle: Path, episodes: list[tuple[int, dict, bool]]) -> None:
    """Store a session that played `episodes` ([(seed, run_in_pyodide result, logged to its end)]), as the browser logs."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    store.create_session(
        NewSession(session_id, manifest["game"]["name"], manifest["build_id"], {}, "node", time.time())
    )
    events: list[dict] = [{"type": "run_start", "game": "main", "base_seed": episodes[0][0], "num_episodes": 2}]
    for index, (seed, played, ended) in enumerate(episodes):
        start = {"type": "episode_start", "episode": index, "attempt": 0, "seed": seed, "step": 0}
        events.append({**start, "obs_hash": played["reset"]["obs_hash"]})
        events += [{"type": "step", "episode": index, **step} for step in played["steps"]]
        if ended:
            events.append({"type": "episode_end", "episode": index, "attempt": 0, "steps": len(played["steps"])})
    store.append_events(session_id, [{"seq": seq, "t": 0, **event} for seq, event in enumerate(events, start=1)])


def replay(db: Path, bundle: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        gymcast_command("replay", str(db), "--bundle", str(bundle), *flags),
        capture_output=True,
        text=True,
        env=environment_with(COLUMNS="400", PYTHONHASHSEED="0"),
        timeout=300,
    )


@pytest.fixture(scope="module")
def set_order_log(tmp_path_factory) -> tuple[Path, Path]:
    """The set-order env built, played in Pyodide as the worker plays it, and logged: one whole episode, and one
    whose log stops after 5 steps (the participant left)."""
    from gymcast.bundler.bundle import build_bundle

    folder = tmp_path_factory.mktemp("set_order")
    bundle = build_bundle(FIXTURES / "set_order", folder / "bundle").path
    full = run_in_pyodide(bundle, 11, [{"player": i % 2} for i in range(12)])
    assert full["steps"][-1]["terminated"]
    left = run_in_pyodide(bundle, 12, [{"player": 1}] * 5)
    db = folder / "logs.sqlite"
    logged_run(SQLiteEventStore(db), "s1", bundle, [(11, full, True), (12, left, False)])
    return db, bundle


def test_an_env_that_iterates_a_set_of_strings_replays_exactly_in_pyodide(set_order_log):
    db, bundle = set_order_log
    result = replay(db, bundle)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if "│ s1" in line]
    assert len(rows) == 2
    assert "match" in rows[0] and "│ 12 " in rows[0]
    assert "partial: matched the 5 logged steps; the log ends there (the participant left?)" in rows[1]
    assert "diverged" not in result.stdout and "incomplete" not in result.stdout


def test_natively_it_diverges_at_the_reset_and_the_platform_is_named_as_the_cause(set_order_log):
    db, bundle = set_order_log
    result = replay(db, bundle, "--native")
    assert result.returncode == 1
    text = " ".join(result.stdout.split())
    assert "diverged at step 0: the reset observation hash" in text
    assert "the cause may be the platform: native CPython's string hashes" in text
    assert "Replay without --native" in text
    assert "seed or env version" not in text
