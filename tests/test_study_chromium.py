"""The example study in Chromium: the whole flow with Prolific parameters, reloads, and assignment."""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import HostProcess, reload_during_episode, wait_for
from gymcast.bundler.bundle import build_bundle
from gymcast.replay import logged_episodes, open_bundle
from gymcast.storage import SQLiteEventStore

STUDY = Path(__file__).resolve().parents[1] / "examples" / "study"
PROLIFIC = "https://app.prolific.com/submissions/complete?cc=C7GYMCAST"


@pytest.fixture(scope="module")
def study_host(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    bundle = build_bundle(STUDY, root / "bundle").path
    with HostProcess(bundle, root / "logs.sqlite") as host:
        yield host


@pytest.fixture
def study_page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.route(
        "https://app.prolific.com/**",
        lambda route: route.fulfill(status=200, body="<p>Prolific</p>", content_type="text/html"),
    )
    yield page
    context.close()


def through_consent_and_instructions(page) -> None:
    wait_for(page, "s.scene === 'consent' && s.phase === 'scene'")
    assert page.is_disabled("#continue")  # consent is required
    page.check("#consent-box")
    page.click("#continue")
    wait_for(page, "s.scene === 'instructions'")
    page.click("#continue")


def play_scene(page, scene: str) -> None:
    """Start the scene and let it run without keys (the human's cart falls quickly)."""
    wait_for(page, f"s.scene === '{scene}' && s.phase === 'ready'", timeout_s=90)
    page.click("#start")
    wait_for(page, f"s.scene !== '{scene}'", timeout_s=60)


def answer_survey(page, age: str = "30") -> None:
    page.check("input[name='q-partner_skill'][value='5']")
    page.check("input[name='q-enjoyment'][value='a lot']")
    page.fill("#q-age", age)


def events_of(db, session_id: str) -> list[dict]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT seq, type, episode, step, data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
    return [{"seq": r[0], "type": r[1], "episode": r[2], "step": r[3], **json.loads(r[4])} for r in rows]


def session_row(db, session_id: str) -> dict:
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        return dict(connection.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,)).fetchone())


def assert_nothing_lost_or_duplicated(events: list[dict]) -> None:
    """Seqs run 1..n; within each run (a reload starts a new one) every episode's steps run 1..k, each once."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    runs = itertools.accumulate(e["type"] == "run_start" for e in events)
    steps: dict[tuple, list[int]] = {}
    for run, e in zip(runs, events):
        if e["type"] == "step":
            steps.setdefault((run, e["scene"], e["episode"], e.get("attempt", 0)), []).append(e["step"])
    assert steps and all(numbers == list(range(1, len(numbers) + 1)) for numbers in steps.values()), steps


def test_the_whole_study_with_prolific_parameters(study_host, study_page):
    page = study_page
    page.goto(study_host.url + "/?PROLIFIC_PID=pp001&STUDY_ID=st1&SESSION_ID=se1")
    through_consent_and_instructions(page)
    play_scene(page, "practice")
    play_scene(page, "main")
    wait_for(page, "s.scene === 'questionnaire'")
    page.click("#submit")
    assert page.is_visible("#survey-error")  # required answers are missing
    answer_survey(page)
    page.fill("#q-comments", "fun")
    page.click("#submit")
    page.wait_for_selector("#completion-code")
    assert page.inner_text("#completion-code") == "C7GYMCAST"
    session_id = page.evaluate("window.gymcast.status().session_id")
    page.wait_for_url(PROLIFIC, timeout=15_000)

    row = session_row(study_host.data, session_id)
    assert row["participant_id"] == "pp001" and row["completed_at"] is not None
    assert json.loads(row["url_params"]) == {"PROLIFIC_PID": "pp001", "STUDY_ID": "st1", "SESSION_ID": "se1"}
    events = events_of(study_host.data, session_id)
    assert_nothing_lost_or_duplicated(events)
    (condition,) = [e for e in events if e["type"] == "condition"]
    assert condition["condition"] == row["condition"] in ("steady", "jittery") and condition["source"] == "host"
    (survey,) = [e for e in events if e["type"] == "survey"]
    assert survey["answers"] == {"partner_skill": "5", "enjoyment": "a lot", "age": 30, "comments": "fun"}
    assert [e["game"] for e in events if e["type"] == "run_start"] == ["practice", f"main:{row['condition']}"]
    assert {e["scene"] for e in events if e["type"] == "step"} == {"practice", "main"}
    assert [e["type"] for e in events if e["type"] in ("consent", "completion")] == ["consent", "completion"]
    with open_bundle(study_host.bundle) as game:
        results = [
            game.replay(e, check_policies=True)
            for e in logged_episodes(SQLiteEventStore(study_host.data).iter_events(session_id))
        ]
    assert [r.status for r in results] == ["match"] * 3


def test_a_participant_who_completed_cannot_start_again(study_host, browser):
    context = browser.new_context()  # a fresh browser: only the host knows
    page = context.new_page()
    page.goto(study_host.url + "/?PROLIFIC_PID=pp001")
    status = wait_for(page, "s.phase === 'done'")
    assert "already completed" in page.inner_text("#scene") and status["scene"] is None
    context.close()


def test_reloads_mid_game_and_mid_survey_resume_without_loss(study_host, study_page):
    page = study_page
    page.goto(study_host.url + "/?PROLIFIC_PID=pp002")
    through_consent_and_instructions(page)
    play_scene(page, "practice")
    wait_for(page, "s.scene === 'main' && s.phase === 'ready'")
    page.click("#start")
    wait_for(page, "s.episode === 0 && !s.in_episode && s.step > 0")  # main's first episode is over
    first = reload_during_episode(page, min_step=2)  # cut main's second episode off
    assert first["episode"] == 1
    resumed = wait_for(page, "s.scene === 'main' && s.phase === 'ready'")
    assert resumed["session_id"] == first["session_id"] and resumed["condition"] == first["condition"]
    page.click("#start")
    wait_for(page, "s.scene === 'questionnaire'", timeout_s=60)
    answer_survey(page, age="41")
    page.reload()
    wait_for(page, "s.scene === 'questionnaire'")
    assert page.is_checked("input[name='q-partner_skill'][value='5']") and page.input_value("#q-age") == "41"
    page.click("#submit")
    page.wait_for_selector("#completion-code")
    page.wait_for_url(PROLIFIC, timeout=15_000)

    events = events_of(study_host.data, first["session_id"])
    assert_nothing_lost_or_duplicated(events)
    runs = [(e["game"], e["start_episode"]) for e in events if e["type"] == "run_start"]
    assert runs == [("practice", 0), (f"main:{first['condition']}", 0), (f"main:{first['condition']}", 1)]
    main_ends = [e["episode"] for e in events if e["type"] == "episode_end" and e["scene"] == "main"]
    assert main_ends == [0, 1]  # episode 0 kept once, episode 1 played again after the reload
    main_starts = [e["episode"] for e in events if e["type"] == "episode_start" and e["scene"] == "main"]
    assert main_starts == [0, 1, 1]
    run_of = list(itertools.accumulate(e["type"] == "run_start" for e in events))
    cut = [e["step"] for run, e in zip(run_of, events) if run == 2 and e["type"] == "step" and e["episode"] == 1]
    assert cut and max(cut) >= 2  # the cut-off attempt's steps stay in the log, in their own run
    with open_bundle(study_host.bundle) as game:
        results = [
            game.replay(e) for e in logged_episodes(SQLiteEventStore(study_host.data).iter_events(first["session_id"]))
        ]
    assert [r.status for r in results] == [
        "match",
        "match",
        "partial",
        "match",
    ]  # the attempt the reload cut off: its logged prefix matched
    assert [e["answers"]["age"] for e in events if e["type"] == "survey"] == [41]
    assert [e["resumed"] for e in events if e["type"] == "page_load"] == [False, True, True]
    assert sum(e["type"] == "consent" for e in events) == 1


def test_page_events_outside_games_are_logged(study_host, study_page):
    page = study_page
    page.goto(study_host.url + "/?PROLIFIC_PID=pp003")
    status = wait_for(page, "s.scene === 'consent' && s.phase === 'scene'")
    page.evaluate("window.dispatchEvent(new Event('blur')); window.dispatchEvent(new Event('focus'))")
    deadline = time.monotonic() + 15
    pages: list[str] = []
    while time.monotonic() < deadline and pages[-2:] != ["blur", "focus"]:
        time.sleep(0.2)
        pages = [e["what"] for e in events_of(study_host.data, status["session_id"]) if e["type"] == "page"]
    assert pages[-2:] == ["blur", "focus"]
