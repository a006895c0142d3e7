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
ERROR_CODE = "3RR0RPART"
REDIRECT = f"https://app.prolific.com/submissions/complete?cc={CODE}"


@pytest.fixture(scope="module")
def coded_bundle(tmp_path_factory) -> Path:
    """Two people balance their carts; a completion code, a partial code for a partner who never comes, and one
    for a study that stops because of an error."""
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
    loaded.experiment.on_error(code=ERROR_CODE, contact="Write to lab@example.org")
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
        assert not any(code.encode() in body for code in (CODE, TIMEOUT_CODE, ERROR_CODE)), path
    (completion,) = [scene for scene in manifest["flow"]["scenes"] if scene["kind"] == "completion"]
    assert completion["has_code"] and completion["code"] is None
    assert completion["redirect"] == "https://app.prolific.com/submissions/complete?cc={code}"
    assert manifest["games"]["main"]["multiplayer"]["has_timeout_code"]
    # The codes live next to the bundle folder, readable by the researcher only.
    secrets = host_file(coded_bundle)
    assert json.loads(secrets.read_text())["completion"]["code"] == CODE
    assert json.loads(secrets.read_text())["error"]["code"] == ERROR_CODE
    assert manifest["flow"]["on_error"] == {
        "code": None,
        "has_code": True,
        "redirect": None,
        "contact": "Write to lab@example.org",
    }
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


def test_the_error_code_is_issued_once_an_error_is_stored_and_never_with_the_completion_code(coded_host):
    """What a participant who posts events by hand can get: the partial code only after an `error` event, which
    closes the session (so it cannot complete afterwards), and never both codes for one session."""
    _, session = join(coded_host, "broken", resume_secret=secret())
    path = f"/api/v1/sessions/{session['session_id']}/completion"
    ask_error = {"schema": 1, "ending": "error"}
    status, reply = post(coded_host, path, ask_error, session["token"])
    assert status == 409 and ERROR_CODE not in json.dumps(reply)  # no error stored yet
    _, other = join(coded_host, "other", resume_secret=secret())
    assert post(coded_host, path, ask_error, other["token"])[0] == 403
    error = {"seq": 2, "type": "error", "t": 1.7e12, "stage": "play", "episode": 0, "step": 20, "message": "boom"}
    assert append(coded_host, session, {"seq": 1, "type": "run_start", "t": 1.7e12}, error)[0] == 200
    status, reply = post(coded_host, path, ask_error, session["token"])
    assert status == 200 and reply["code"] == ERROR_CODE
    assert post(coded_host, path, ask_error, session["token"])[1]["code"] == ERROR_CODE  # the same code again
    status, reply = append(coded_host, session, {"seq": 3, "type": "completion", "t": 1.7e12})
    assert status == 409 and "ended by an error" in reply["error"]  # the session is closed
    assert post(coded_host, path, {"schema": 1}, session["token"])[0] == 409
    # A completion and an error in one batch: the session gets neither code.
    _, both = join(coded_host, "both", resume_secret=secret())
    append(coded_host, both, {**error, "seq": 1}, {"seq": 2, "type": "completion", "t": 1.7e12})
    both_path = f"/api/v1/sessions/{both['session_id']}/completion"
    assert post(coded_host, both_path, {"schema": 1}, both["token"])[0] == 409
    assert post(coded_host, both_path, ask_error, both["token"])[0] == 409
    # A completed session gets no error code.
    _, done = join(coded_host, "done", resume_secret=secret())
    append(coded_host, done, {"seq": 1, "type": "completion", "t": 1.7e12})
    done_path = f"/api/v1/sessions/{done['session_id']}/completion"
    assert post(coded_host, done_path, {"schema": 1}, done["token"])[1]["code"] == CODE
    assert post(coded_host, done_path, ask_error, done["token"])[0] == 409


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"code": "has space"}, "on_error.code"),
        ({"code": 1234}, "on_error.code"),
        ({"code": "X1", "redirect": "ftp://x"}, "on_error.redirect"),
        ({"redirect": "https://x.org/?cc=X1"}, "on_error.redirect"),
        ({"contact": "two\nlines"}, "on_error.contact"),
        ({"contact": "x" * 501}, "on_error.contact"),
    ],
)
def test_bad_error_settings_name_the_field(settings, field):
    from gymcast import Experiment
    from gymcast.experiment.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        Experiment("study").on_error(**settings)
    assert str(raised.value).startswith(f"{field}:") and "Fix:" in str(raised.value)


def test_the_error_code_must_differ_from_the_completion_code():
    from gymcast import Experiment
    from gymcast.experiment.errors import ConfigError

    with pytest.raises(ConfigError, match="^on_error.code: it equals the completion code"):
        Experiment("study").flow(Game("main"), Completion(code=CODE)).on_error(code=CODE)
    late = Experiment("study").on_error(code=CODE).flow(Game("main"), Completion(code=CODE))
    with pytest.raises(ConfigError, match="^on_error.code: it equals the completion code"):
        late.flow_manifest()
