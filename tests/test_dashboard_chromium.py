"""The researcher's dashboard in Chromium against a real host: access, live updates, actions, downloads."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import HostProcess, admin_token, closed_after_test, gymcast_command, wait_for
from gymcast.bundler.bundle import build_bundle
from gymcast.testing import StaticServer
from test_study_chromium import PROLIFIC, STUDY, answer_survey, play_scene, through_consent_and_instructions

API = ("overview", "participants", "participants/nobody", "multiplayer", "actions", "download/csv")


@pytest.fixture(scope="module")
def study_bundle(tmp_path_factory) -> Path:
    return build_bundle(STUDY, tmp_path_factory.mktemp("dash") / "bundle").path


@pytest.fixture
def study_host(study_bundle, tmp_path):
    with HostProcess(study_bundle, tmp_path / "logs.sqlite") as host:
        yield host


def status_of(url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, body, headers or {}, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def api(host: HostProcess, path: str, token: str) -> dict:
    request = urllib.request.Request(f"{host.url}/admin/api/{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def logged_in(browser, host: HostProcess, token: str):
    """A dashboard page, logged in through the login link."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and print("dashboard:", message.text))
    page.goto(f"{host.url}/admin/login?token={token}")
    page.wait_for_function("() => Number(document.body.dataset.refreshes ?? 0) > 0")
    return page


def participant_page(browser):
    context = closed_after_test(browser.new_context())
    page = context.new_page()
    page.route(
        "https://app.prolific.com/**",
        lambda route: route.fulfill(status=200, body="<p>Prolific</p>", content_type="text/html"),
    )
    return page


def assert_not_blank(page, selector: str) -> None:
    """The element is shown, has text, and its screenshot is not one flat colour."""
    element = page.locator(selector)
    assert element.is_visible() and element.inner_text().strip(), selector
    pixels = np.asarray(Image.open(io.BytesIO(element.screenshot())).convert("L"), dtype=np.float32)
    assert pixels.std() > 8, f"{selector} looks blank"


def test_access_needs_the_token_and_a_same_site_login(study_bundle, study_host, browser, tmp_path):
    token = admin_token(study_host.data)
    other = tmp_path / "other.sqlite"
    assert len(token) >= 32 and admin_token(other) != token  # two fresh databases, two tokens
    assert admin_token(study_host.data) == token  # kept with the data
    for path in API:
        assert status_of(f"{study_host.url}/admin/api/{path}") == 401, path
        assert status_of(f"{study_host.url}/admin/api/{path}", headers={"Authorization": "Bearer wrong"}) == 401
    assert status_of(f"{study_host.url}/admin/api/recruitment", "POST", body=b"{}") == 401
    assert status_of(f"{study_host.url}/admin/login?token=wrong") == 401
    assert api(study_host, "overview", token)["recruitment_open"] is True

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{study_host.url}/admin/")
    assert page.url == f"{study_host.url}/admin/login" and page.is_visible("#token")  # no login: the form
    page.fill("#token", "not the token")
    page.click("#login")
    assert "not this study's admin token" in page.inner_text("#login-error")
    page.goto(f"{study_host.url}/admin/login#token={token}")  # the link `gymcast serve` prints
    page.wait_for_function("() => Number(document.body.dataset.refreshes ?? 0) > 0")
    assert page.url == f"{study_host.url}/admin/"  # a clean URL
    assert token not in page.content() and token not in page.url
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and token not in cookie["value"]
    assert page.evaluate("document.cookie") == ""

    # A forged POST from another site (localhost is not the same site as 127.0.0.1), and one from another
    # origin of the same site (another port: the cookie goes along, but no CSRF token): both refused.
    attack = tmp_path / "attack"
    attack.mkdir()
    (attack / "manifest.json").write_text("{}")
    form = (
        f'<form method="post" action="{study_host.url}/admin/api/recruitment" enctype="text/plain">'
        '<input name=\'{"open": false, "x": "\' value=\'"}\'></form><script>document.forms[0].submit()</script>'
    )
    (attack / "form.html").write_text(form)
    with StaticServer(attack) as evil:
        for origin in (evil.url.replace("127.0.0.1", "localhost"), evil.url):
            forged = context.new_page()
            with forged.expect_response(f"{study_host.url}/admin/api/recruitment") as response:
                forged.goto(f"{origin}/form.html")
            assert response.value.status in (401, 403), origin
            forged.close()
    assert api(study_host, "overview", token)["recruitment_open"] is True
    assert not [a for a in api(study_host, "actions", token)["actions"] if a["type"] == "recruitment_closed"]

    rotated = admin_token(study_host.data, "--rotate")
    assert (
        rotated != token
        and status_of(f"{study_host.url}/admin/api/overview", headers={"Authorization": f"Bearer {token}"}) == 401
    )
    page.wait_for_url(f"{study_host.url}/admin/login")  # rotating ends earlier logins: the next poll logs out
    page.goto(f"{study_host.url}/admin/")
    assert page.url == f"{study_host.url}/admin/login"
    context.close()


def test_live_dashboard_recruitment_and_csv(study_host, browser, tmp_path):
    token = admin_token(study_host.data)
    dashboard = logged_in(browser, study_host, token)
    dashboard.evaluate("window.notReloaded = true")
    # Record every (scene, state) the participants table shows for each session, as it redraws.
    dashboard.evaluate(
        """window.seen = {};
        new MutationObserver(() => {
          for (const row of document.querySelectorAll('#participants tr[data-session]')) {
            const list = (window.seen[row.dataset.session] ??= []);
            const entry = row.dataset.scene + '/' + row.dataset.state;
            if (list.at(-1) !== entry) list.push(entry);
          }
        }).observe(document.getElementById('participants'), {childList: true, subtree: true});"""
    )
    page = participant_page(browser)
    page.goto(study_host.url + "/?PROLIFIC_PID=dash1")
    through_consent_and_instructions(page)
    session_id = page.evaluate("window.gymcast.status().session_id")
    row = f"document.querySelector('#participants tr[data-session=\"{session_id}\"]')?.dataset"
    # The practice episode is paused in its first frame (by the pause control's handler: this study hides the
    # button), so that the dashboard's poll (1.5 s) is sure to find the participant playing: without keys the cart
    # falls in well under a second.
    wait_for(page, "s.scene === 'practice' && s.phase === 'ready'", timeout_s=90)
    page.click("#start")
    page.evaluate(
        """() => new Promise((done) => {
          const pauseOnceRunning = () => window.gymcast.status().in_episode
            ? (document.getElementById('pause').click(), done()) : requestAnimationFrame(pauseOnceRunning);
          pauseOnceRunning();
        })"""
    )
    wait_for(page, "s.paused")
    dashboard.wait_for_function(f"() => {row}.state === 'playing'", timeout=20_000)
    page.evaluate("document.getElementById('pause').click()")  # resume (the study hides the button): the cart falls
    wait_for(page, "s.scene !== 'practice'", timeout_s=60)

    # Close recruitment from the dashboard while dash1 is in the study.
    dashboard.click("#recruitment")
    dashboard.wait_for_function("() => document.getElementById('recruitment').dataset.open === 'false'")
    newcomer = participant_page(browser)
    newcomer.goto(study_host.url + "/?PROLIFIC_PID=late1")
    wait_for(newcomer, "s.phase === 'done'")
    assert "not taking participants" in newcomer.inner_text("#scene").lower()

    play_scene(page, "main")
    wait_for(page, "s.scene === 'questionnaire'")
    dashboard.wait_for_function(f"() => {row}.scene === 'questionnaire'", timeout=20_000)  # shown while they answer
    answer_survey(page)
    page.click("#submit")
    page.wait_for_selector("#completion-code")
    page.wait_for_url(PROLIFIC, timeout=15_000)
    dashboard.wait_for_function(
        f"() => {row}.state === 'completed'",
        timeout=20_000,
    )
    assert dashboard.evaluate("window.notReloaded") is True
    seen = dashboard.evaluate(f"window.seen['{session_id}']")
    scenes = [entry.split("/")[0] for entry in seen]
    assert [s for s in ("practice", "main", "questionnaire") if s in scenes] == ["practice", "main", "questionnaire"], (
        seen
    )
    assert seen[-1].endswith("/completed") and any(entry.endswith("/playing") for entry in seen), seen
    overview = api(study_host, "overview", token)
    assert overview["states"]["completed"] == 1 and overview["recruitment_open"] is False
    assert {row["scene"]: row["finished"] for row in overview["funnel"]}["main"] == 1
    assert overview["codes"] == [{"code": "C7GYMCAST", "partial": False, "count": 1}]
    assert overview["boot_ms"]["count"] >= 1
    assert [p["participant_id"] for p in api(study_host, "participants", token)["participants"]] == ["dash1"]
    closed = [a for a in api(study_host, "actions", token)["actions"] if a["type"] == "recruitment_closed"]
    assert len(closed) == 1 and closed[0]["actor"].startswith("login ")

    # The CSV the page downloads is the one `gymcast export` writes.
    with dashboard.expect_download() as download:
        dashboard.click("#download-csv")
    downloaded = tmp_path / "dashboard.csv"
    download.value.save_as(downloaded)
    exported = tmp_path / "export.csv"
    subprocess.run(gymcast_command("export", str(study_host.data), "--format", "csv", "-o", str(exported)), check=True)
    assert downloaded.read_bytes() == exported.read_bytes() and len(exported.read_bytes()) > 1000

    # One participant's panel, then screenshots of the panels.
    dashboard.click(f"#participants tr[data-session='{session_id}']")
    dashboard.wait_for_selector("#participant:not([hidden]) #participant-body table")
    body = dashboard.inner_text("#participant-body")
    assert "PROLIFIC_PID" in body and "a lot" in body and "episode_end" in body
    for panel in ("#overview", "#participants-panel", "#participant", "#downloads"):
        assert_not_blank(dashboard, panel)
    check_replay_viewer(dashboard, study_host, session_id)


def replay_status(page, condition: str) -> dict:
    page.wait_for_function(
        f"() => {{ const s = window.replayViewer && window.replayViewer.status(); return s && ({condition}); }}",
        timeout=240_000,
    )
    return page.evaluate("window.replayViewer.status()")


def check_replay_viewer(dashboard, host: HostProcess, session_id: str) -> None:
    """The practice episode replays with every logged hash equal; altering one logged action in the database
    makes the viewer flag the first hashed step at or after it."""
    with dashboard.expect_navigation():
        dashboard.click("#participant-body a[href*='scene=practice']")
    status = replay_status(dashboard, "s.phase === 'ready' || s.phase === 'error'")
    assert status["phase"] == "ready", status["error"]
    assert status["first_divergence"] is None and status["checked"] >= 1 and status["total"] > 5, status
    assert dashboard.get_attribute("#replay-status", "data-result") == "match"
    replay_status(dashboard, "s.frames_shown > 0")
    assert_not_blank(dashboard, "#replay-stage")
    assert_not_blank(dashboard, "#replay-log")
    dashboard.click("#replay-step")
    replay_status(dashboard, "s.step === 1")
    dashboard.select_option("#replay-speed", "4")
    dashboard.click("#replay-play")
    end = replay_status(dashboard, f"s.step === {status['total']}")
    assert end["frames_shown"] > 3
    dashboard.fill("#replay-scrubber", "2")  # the scrubber goes back
    replay_status(dashboard, "s.step === 2")

    with sqlite3.connect(host.data) as connection:
        rows = connection.execute(
            "SELECT seq, step, data FROM events WHERE session_id = ? AND type = 'step' ORDER BY seq", (session_id,)
        ).fetchall()
        practice = [
            (seq, step, json.loads(data)) for seq, step, data in rows if json.loads(data)["scene"] == "practice"
        ]
        altered = practice[len(practice) // 2]
        data = altered[2]
        data["actions"]["human"] = 1 - data["actions"]["human"]
        connection.execute(
            "UPDATE events SET data = ? WHERE session_id = ? AND seq = ?", (json.dumps(data), session_id, altered[0])
        )
    expected = min(step for _, step, d in practice if step >= altered[1] and d.get("obs_hash"))
    dashboard.reload()
    status = replay_status(dashboard, "s.phase === 'ready' || s.phase === 'error'")
    assert status["first_divergence"] == expected, (status, altered[1])
    assert dashboard.get_attribute("#replay-status", "data-result") == "diverged"
    dashboard.fill("#replay-scrubber", str(expected))
    replay_status(dashboard, f"s.step === {expected}")
    assert dashboard.get_attribute("#replay-step-info table", "data-diverged") == "true"
    dashboard.fill("#replay-scrubber", str(expected - 1))
    replay_status(dashboard, f"s.step === {expected - 1}")
    assert dashboard.get_attribute("#replay-step-info table", "data-diverged") == "false"


def test_failed_logins_are_rate_limited(study_host):
    token = admin_token(study_host.data)
    wrong = [status_of(f"{study_host.url}/admin/login?token=guess{i}") for i in range(10)]
    assert wrong == [401] * 10
    assert status_of(f"{study_host.url}/admin/login?token={token}") == 429  # even the right one, for a while
    assert status_of(f"{study_host.url}/admin/api/overview", headers={"Authorization": f"Bearer {token}"}) == 429
