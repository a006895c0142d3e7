"""Slim bundles: only the traced modules ship, as Python 3.12 bytecode; anything else still imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import CARTPOLE, HostProcess, environment_with, events_of, gymcast_command, open_player, wait_for

IMPORT_PRUNED = Path(__file__).parent / "node" / "import_pruned.mjs"


def shipped_archive(bundle: Path, manifest: dict, name_start: str) -> zipfile.ZipFile:
    (path,) = [
        p for p in manifest["files"] if p.rsplit("/", 1)[-1].startswith(name_start) and not p.startswith("full/")
    ]
    return zipfile.ZipFile(bundle / path)


def test_archives_hold_the_traced_modules_as_bytecode_and_name_the_rest(cartpole_bundle):
    manifest = json.loads((cartpole_bundle / "manifest.json").read_text())
    stdlib = shipped_archive(cartpole_bundle, manifest, "python_stdlib").namelist()
    assert "json/decoder.pyc" in stdlib and "random.pyc" in stdlib  # imported by the run (and the safety list)
    assert not [name for name in stdlib if name.endswith(".py")]
    with zipfile.ZipFile(next(cartpole_bundle.glob("pyodide/*/python_stdlib.zip"))) as shipped_zip:
        assert shipped_zip.read("random.pyc")[:2] == (3531).to_bytes(2, "little")  # CPython 3.12's bytecode magic
    numpy = shipped_archive(cartpole_bundle, manifest, "numpy-").namelist()
    assert "numpy/__init__.py" in numpy  # a top-level package keeps its source: the lock reads import names there
    assert "numpy/_core/numeric.pyc" in numpy and not any(name.endswith((".h", ".pyi")) for name in numpy)
    pruned = {archive["url"].rsplit("/", 1)[-1].split("-")[0]: archive for archive in manifest["pruned"]}
    assert "numpy.f2py" in pruned["numpy"]["modules"] and "numpy/f2py/__init__.pyc" not in numpy
    # CartPole never uses numpy.linalg (numpy no longer imports it, see bundler/patches.py) or numpy.fft: their
    # extension modules stay out, so Pyodide neither loads nor compiles them; numpy's own still ship
    for extension in ("numpy.linalg._umath_linalg", "numpy.linalg.lapack_lite", "numpy.fft._pocketfft_umath"):
        assert extension in pruned["numpy"]["modules"]
    assert not [name for name in numpy if name.startswith(("numpy/linalg/", "numpy/fft/"))]
    assert "numpy/_core/_multiarray_umath.cpython-312-wasm32-emscripten.so" in numpy
    assert "tkinter" not in stdlib and "email.mime.application" in pruned["python_stdlib.zip"]["modules"]
    for archive in manifest["pruned"]:
        assert archive["url"] in manifest["files"]  # the full archive ships, fetched only if needed


def test_a_module_left_out_is_fetched_from_the_full_archive_and_reported(cartpole_bundle):
    code = """
import json, gymnasium, cloudpickle, email.mime.application, numpy as np
env = gymnasium.make("FrozenLake-v1"); obs, _ = env.reset(seed=1)
json.dumps([int(obs), len(cloudpickle.dumps(lambda x: x + 1)) > 0, email.mime.application.MIMEApplication(b"x").get_content_type(),
            float(np.linalg.norm([3.0, 4.0])), round(float(abs(np.fft.fft([1.0, 0.0, 0.0, 0.0])[2])), 6),
            np.polyfit([0.0, 1.0, 2.0], [1.0, 3.0, 5.0], 1).round(6).tolist(), (np.matrix([[1, 1], [0, 1]]) ** 2).tolist()])
"""
    result = subprocess.run(
        ["node", str(IMPORT_PRUNED), str(cartpole_bundle), code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    # numpy.linalg and numpy.fft, left out with their extension modules, load from numpy's full archive
    # (polyfit and matrix powers call numpy.linalg through the build's lazy imports, see bundler/patches.py)
    assert json.loads(output["result"]) == [0, True, "application/octet-stream", 5.0, 1.0, [2.0, 1.0], [[1, 2], [0, 1]]]
    archives = [archive for _, archive in output["reports"]]
    # each full archive is fetched once: cloudpickle, stdlib, gymnasium, numpy
    assert len(archives) == len(set(archives)) == 4
    assert {module.split(".")[0] for module, _ in output["reports"]} >= {"cloudpickle", "gymnasium", "numpy"}


def build_on_path(tmp_path: Path, path: str) -> subprocess.CompletedProcess:
    """`gymcast build` of a changed CartPole (so no cached trace applies) with PATH set to `path`."""
    folder = tmp_path / "changed"
    shutil.copytree(CARTPOLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    with (folder / "frames.py").open("a") as module:
        module.write(f"\n# {tmp_path.name}: new code, so no cached trace applies\n")
    return subprocess.run(
        gymcast_command("build", str(folder), "-o", str(tmp_path / "out")),
        capture_output=True,
        text=True,
        env=environment_with(PATH=path, COLUMNS="300"),
    )


def test_without_node_the_build_says_how_to_go_on(tmp_path):
    result = build_on_path(tmp_path, "/usr/local/nonexistent")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Node.js 18+ is needed" in result.stderr and "--no-slim" in result.stderr


def test_with_a_node_too_old_for_pyodide_the_build_names_its_version(tmp_path):
    old = tmp_path / "old_node"
    old.mkdir()
    (old / "node").write_text("#!/bin/sh\necho v16.20.2\n")
    (old / "node").chmod(0o755)
    result = build_on_path(tmp_path, str(old))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Node.js v16.20.2" in result.stderr and "needs Node.js 18+" in result.stderr and "--no-slim" in result.stderr


LATE_IMPORT = Path(__file__).parent / "fixtures" / "experiments" / "late_import"


def test_in_chromium_a_module_left_out_loads_during_play_and_is_logged(browser, tmp_path):
    from gymcast.bundler.bundle import build_bundle
    from gymcast.storage import SQLiteEventStore

    bundle = build_bundle(LATE_IMPORT, tmp_path / "bundle").path
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert any("email.mime.text" in archive["modules"] for archive in manifest["pruned"])
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        page = open_player(browser, host.url, "late")
        page.click("#start")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 60)
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    (loaded,) = events_of(store, status["session_id"], "pruned_module")
    assert loaded.data["module"] == "email.mime.text" and loaded.data["archive"].endswith("python_stdlib.zip")
    (start,) = events_of(store, status["session_id"], "episode_start")
    assert start.data["custom"] == {"mime": "text/plain"}


def slim_late_import(tmp_path: Path, *keep: str):
    """The late-import experiment built slim, with `.keep_modules(*keep)`."""
    from gymcast.bundler.bundle import build_loaded
    from gymcast.experiment.loader import load_experiment

    loaded = load_experiment(LATE_IMPORT)
    loaded.experiment.keep_modules(*keep)
    return build_loaded(loaded, tmp_path / "bundle").path


def test_keep_modules_ships_a_module_the_trace_never_imports(tmp_path):
    bundle = slim_late_import(tmp_path, "email.mime.text")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert not any("email.mime.text" in archive["modules"] for archive in manifest["pruned"])
    stdlib = shipped_archive(bundle, manifest, "python_stdlib").namelist()
    assert "email/mime/text.pyc" in stdlib and "email/mime/nonmultipart.pyc" in stdlib  # with what it imports


def test_keep_modules_naming_a_module_pyodide_cannot_import_fails_the_build(tmp_path):
    from gymcast.bundler.slim import SlimError

    with pytest.raises(SlimError) as caught:
        slim_late_import(tmp_path, "json", "no_such_module_for_gymcast")
    message = str(caught.value)
    assert "keep_modules: no_such_module_for_gymcast could not be imported in Pyodide" in message
    assert ".requirements(" in message and "json" not in message.split("Pyodide")[0]
