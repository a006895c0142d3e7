"""Human-human play in real Chromium pages over a real host: lockstep, dropouts and rejoining, desync repair, timeouts."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from conftest import (
    HostProcess,
    assert_one_game,
    build_capped,
    events_of,
    open_player,
    start_pair,
    steps_by_session,
    wait_for,
)
from gymcast.storage import SQLiteEventStore
from gymcast_runtime import GameSession
from gymcast_runtime.state_format import MAGIC

DUO = Path(__file__).parent / "fixtures" / "experiments" / "duo"


def duo_bundle(out: Path, max_steps: int = 150, multiplayer: dict | None = None, **env_kwargs) -> Path:
    """The duo fixture built with a step cap per episode, extra env kwargs, and other multiplayer rules."""
    return build_capped(DUO, out, max_steps, multiplayer, max_episode_steps=max_steps, **env_kwargs)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return duo_bundle(tmp_path_factory.mktemp("duo") / "bundle")


def test_two_pages_play_one_game_in_lockstep(browser, bundle, tmp_path):
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        top, bottom = start_pair(browser, host.url, ("top-player", "bottom-player"))
        top.keyboard.down("ArrowRight")
        bottom.keyboard.down("ArrowRight")
        wait_for(top, "s.step >= 20")
        top.keyboard.up("ArrowRight")
        bottom.keyboard.up("ArrowRight")
        bottom.keyboard.down("ArrowLeft")
        statuses = [wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90) for page in (top, bottom)]
    assert {status["net"]["seat"] for status in statuses} == {"top", "bottom"}
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    first, _ = assert_one_game(store)
    assert len(first) > 20
    by_seat = {status["net"]["seat"]: status["session_id"] for status in statuses}
    steps = steps_by_session(store)
    top_steps, bottom_steps = steps[by_seat["top"]], steps[by_seat["bottom"]]
    # each page's keys drive only its own seat, `input_delay` steps later
    assert all(s["keys"] == {"top": "ArrowRight"} for s in top_steps.values() if s["keys"]["top"])
    assert {s["actions"]["bottom"] for s in bottom_steps.values()} == {0, 1}
    assert any(s["keys"]["bottom"] == "ArrowLeft" and s["actions"]["bottom"] == 0 for s in bottom_steps.values())
    (formed,) = [e for e in store.iter_relay_events() if e.type == "group_formed"]
    assert set(formed.data["members"].values()) == set(by_seat.values())
    assert store.group_of(by_seat["bottom"]) == (formed.group_id, "bottom")
    assert not [e for e in store.iter_relay_events() if e.type == "desync"]


def wait_until_logged(store: SQLiteEventStore, step: int, sessions: int, timeout_s: float = 90) -> None:
    """Wait until `sessions` sessions have each logged step `step` (and so, in seq order, those before it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        logged = steps_by_session(store)
        if len(logged) == sessions and all(max(steps) >= step for steps in logged.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout_s} s for {sessions} sessions to log step {step}")


def test_a_player_who_leaves_mid_episode_comes_back_to_the_same_game(browser, tmp_path):
    bundle = duo_bundle(tmp_path / "long", max_steps=1_000_000)  # never ends by itself: no race with the clock
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        stay = open_player(browser, host.url, "stays")
        leaver_context = browser.new_context()
        leave = open_player(browser, host.url, "leaves", leaver_context)
        for page in (stay, leave):
            page.click("#start")
        wait_for(stay, "s.step >= 15")
        leave.close()  # mid-episode
        wait_for(stay, "s.net.partner === 'fallback'", 15)
        away_from = wait_for(stay, "true")["step"]
        wait_for(stay, f"s.step >= {away_from + 20}", 15)  # the game goes on with the fallback
        back = open_player(browser, host.url, "leaves", leaver_context)
        back.click("#start")
        back_status = wait_for(back, "s.net && s.net.phase === 'rejoined' && s.step > 0", 60)
        wait_for(stay, "s.net.partner === 'human'", 30)
        checked_to = back_status["step"] + 60  # both games go on together; check 60 steps of it once logged
        wait_until_logged(store, checked_to, sessions=2)
    kinds = [event.type for event in store.iter_relay_events()]
    assert kinds.index("dropout") < kinds.index("rejoin") < kinds.index("state_sent")
    (rejoined,) = events_of(store, back_status["session_id"], "rejoined")
    steps = steps_by_session(store)
    returned, stayed = (
        steps[back_status["session_id"]],
        next(s for sid, s in steps.items() if sid != back_status["session_id"]),
    )
    after = [step for step in returned if rejoined.step < step <= checked_to]
    assert after and all(returned[s]["obs_hash"] == stayed[s]["obs_hash"] for s in after)
    stand_in_steps = [s for s in stayed if s > away_from and s <= rejoined.step]
    assert stand_in_steps, "the partner's game went on while the player was away"


def test_a_desync_is_detected_repaired_and_logged(browser, tmp_path, monkeypatch):
    bundle = duo_bundle(tmp_path / "nudged", nudge_at_step=12)
    relayed: list[dict] = []  # what the relay sent each page (its socket lives in the page's worker)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        pages = [open_player(browser, host.url, name) for name in ("first", "second")]
        for page in pages:
            page.on(
                "websocket", lambda socket: socket.on("framereceived", lambda text: relayed.append(json.loads(text)))
            )
            page.click("#start")
        statuses = [wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90) for page in pages]
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    desyncs = [e.data for e in store.iter_relay_events() if e.type == "desync"]
    assert len(desyncs) == 1, f"expected one desync, got {desyncs}"
    (desync,) = desyncs
    assert desync["step"] == 15 and len(set(desync["hashes"].values())) == 2
    repaired = next(s for s in statuses if s["net"]["seat"] in desync["repairing"])
    (resync,) = events_of(store, repaired["session_id"], "resync")
    steps = steps_by_session(store)
    reference = next(v for sid, v in steps.items() if sid != repaired["session_id"])
    assert resync.data["hash_after"] == reference[resync.data["to_step"]]["obs_hash"] != resync.data["hash_before"]
    later = [step for step in steps[repaired["session_id"]] if step > resync.data["to_step"]]
    assert later and all(steps[repaired["session_id"]][s]["obs_hash"] == reference[s]["obs_hash"] for s in later)
    # the repair carried data in gymcast's state format, never a pickle, and it is the reference's state
    (repair,) = [message for message in relayed if message["type"] == "state"]
    state = base64.b64decode(repair["state"])
    assert state.startswith(MAGIC) and not state.startswith(b"\x80") and repair["step"] == desync["step"]
    monkeypatch.syspath_prepend(str(DUO))
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "examples" / "cartpole"))
    native = GameSession(json.loads((bundle / "manifest.json").read_text())["game"])
    assert native.restore(state)["obs_hash"] == reference[repair["step"]]["obs_hash"]


def test_with_no_partner_the_fallback_takes_the_empty_seat(browser, bundle, tmp_path):
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        page = open_player(browser, host.url, "alone")
        page.keyboard.down("ArrowLeft")
        page.click("#start")
        wait_for(page, "s.net && s.net.phase === 'waiting' && s.net.waited_s >= 2")
        assert "Waiting for a partner… " in page.inner_text("#overlay")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 90)
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    (timeout,) = events_of(store, status["session_id"], "wait_timeout")
    assert timeout.data["waited_s"] >= 8 and timeout.data["on_timeout"] == "ai"
    (run_start,) = events_of(store, status["session_id"], "run_start")
    assert run_start.data["networked"] is False and run_start.data["seat"] == "top"
    steps = [event.data for event in events_of(store, status["session_id"], "step")]
    assert {s["actions"]["bottom"] for s in steps} == {0, 1}  # RandomPolicy plays the empty seat
    assert [e.type for e in store.iter_relay_events()] == ["wait_timeout"]


def test_with_no_partner_an_end_rule_shows_the_partial_completion_code(browser, tmp_path):
    rules = {"wait_timeout_s": 2, "on_timeout": "end", "timeout_code": "NOPARTNER7", "on_dropout": "default_action"}
    bundle = duo_bundle(tmp_path / "ends", multiplayer=rules)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        page = open_player(browser, host.url, "alone")
        page.click("#start")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0", 30)
        assert page.inner_text("#completion-code") == "NOPARTNER7"
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    (completion,) = events_of(store, status["session_id"], "completion")
    assert completion.data["partial"] is True and completion.data["code"] == "NOPARTNER7"
    assert not events_of(store, status["session_id"], "step")
