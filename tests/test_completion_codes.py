"""Completion codes come from the host (issue 15, item 4): never in manifest.json or any served file,
issued only once the participant's completion is stored; the relay still gets its timeout code."""

from __future__ import annotations

import http.client
import json
import stat
from pathlib import Path

import pytest

from conftest import CARTPOLE, HostProcess
from gymcast.bundle_files import host_file
from gymcast.flow import Completion, Game
from relay_client import RelayClient
from test_security_host import append, join, post, secret


@pytest.fixture
def data(each_data):
    """Every test here runs on SQLite and on PostgreSQL."""
    return each_data


CODE = "C0MPL3T3X"
TIMEOUT_CODE = "N0PARTN3R"
REDIRECT = f"https://app.prolific.com/submissions/complete?cc={CODE}"


@pytest.fixture(scope="module")
def coded_bundle(tmp_path_factory) -> Path:
    """Two people balance their carts; a completion code and a partial code for a partner who never comes."""
    from gymcast.bundler.bundle import build_loaded
    from gymcast.experiment.loader import load_experiment

    loaded = load_experiment(CARTPOLE / "human_human.py")
    loaded.experiment.multiplayer(
        wait_timeout_s=1,
        on_timeout="end",
        timeout_code=TIMEOUT_CODE,
        timeout_redirect=f"https://x.org/?cc={TIMEOUT_CODE}",
    )
    loaded.experiment.flow(Game("main"), Completion(code=CODE, redirect=REDIRECT))
    return build_loaded(loaded, tmp_path_factory.mktemp("coded") / "bundle", slim=False).path


@pytest.fixture
def coded_host(coded_bundle, data):
    with HostProcess(coded_bundle, data) as host:
        yield host


def served(host, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200, path
    return body


def test_no_served_file_holds_a_code(coded_host, coded_bundle):
    manifest = json.loads(served(coded_host, "/manifest.json"))
    for path in ["manifest.json", *manifest["files"]]:
        body = served(coded_host, "/" + path)
        assert CODE.encode() not in body and TIMEOUT_CODE.encode() not in body, path
    (completion,) = [scene for scene in manifest["flow"]["scenes"] if scene["kind"] == "completion"]
    assert completion["has_code"] and completion["code"] is None
    assert completion["redirect"] == "https://app.prolific.com/submissions/complete?cc={code}"
    assert manifest["games"]["main"]["multiplayer"]["has_timeout_code"]
    # The codes live next to the bundle folder, readable by the researcher only.
    secrets = host_file(coded_bundle)
    assert json.loads(secrets.read_text())["completion"]["code"] == CODE
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600


def test_the_code_is_issued_only_after_the_completion_is_stored(coded_host):
    _, session = join(coded_host, "worker1", resume_secret=secret())
    path = f"/api/v1/sessions/{session['session_id']}/completion"
    status, reply = post(coded_host, path, {"schema": 1}, session["token"])
    assert status == 409 and CODE not in json.dumps(reply)
    _, other = join(coded_host, "worker2", resume_secret=secret())
    assert post(coded_host, path, {"schema": 1}, other["token"])[0] == 403
    append(coded_host, session, {"seq": 1, "type": "completion", "t": 1.7e12, "partial": True})
    assert post(coded_host, path, {"schema": 1}, session["token"])[0] == 409  # a partial completion is not enough
    _, third = join(coded_host, "worker3", resume_secret=secret())
    append(
        coded_host, third, {"seq": 1, "type": "scene_start", "t": 1.7e12}, {"seq": 2, "type": "completion", "t": 1.7e12}
    )
    status, reply = post(
        coded_host, f"/api/v1/sessions/{third['session_id']}/completion", {"schema": 1}, third["token"]
    )
    assert status == 200 and (reply["code"], reply["redirect"]) == (CODE, REDIRECT)


def test_the_relay_still_hands_out_the_timeout_code(coded_host):
    _, session = join(coded_host, "alone", resume_secret=secret())
    alone = RelayClient(coded_host.url, (session["session_id"], session["token"]))
    timeout = alone.expect("timeout", timeout_s=10)
    assert (timeout["on_timeout"], timeout["code"]) == ("end", TIMEOUT_CODE)
    alone.close()


def test_a_static_only_bundle_keeps_its_public_code_and_says_so(tmp_path):
    from gymcast.bundler.bundle import build_loaded
    from gymcast.experiment.loader import load_experiment

    loaded = load_experiment(CARTPOLE)
    loaded.experiment.hosting(static_only=True)
    loaded.experiment.flow(Game("main"), Completion(code=CODE))
    built = build_loaded(loaded, tmp_path / "bundle", slim=False)
    (completion,) = [scene for scene in built.manifest.flow["scenes"] if scene["kind"] == "completion"]
    assert completion["code"] == CODE and not host_file(built.path).exists()
    assert any("anyone can read them" in warning for warning in built.warnings)
