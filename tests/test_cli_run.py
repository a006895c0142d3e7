"""`gymcast run`: build, then serve, printing the URL to open, and stop cleanly."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

from conftest import CARTPOLE, environment_with, gymcast_command
from gymcast.testing import free_port


def test_run_builds_serves_and_prints_the_url(cartpole_bundle, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        gymcast_command(
            "run",
            str(CARTPOLE),
            "-o",
            str(tmp_path / "bundle"),
            "--port",
            str(port),
            "--data",
            str(tmp_path / "logs.sqlite"),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment_with(COLUMNS="200"),
    )
    try:
        deadline = time.monotonic() + 120
        manifest = None
        while time.monotonic() < deadline and manifest is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/manifest.json", timeout=1) as response:
                    manifest = json.loads(response.read())
            except OSError:
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.2)
        assert manifest and manifest["game"]["name"] == "cartpole"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/" in stderr
    assert (tmp_path / "logs.sqlite").is_file()
    # the server's workers exit cleanly: none inherits the build's threads (a worker forked from the building
    # process aborted with std::system_error as it exited)
    assert "SIGABRT" not in stderr and "terminate called" not in stderr, stderr[-2000:]
    assert process.returncode == 0, stderr[-2000:]
