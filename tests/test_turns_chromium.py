"""Turn-based play in Chromium: Connect Four (a PettingZoo AEC env) by clicks and taps against a Python
player and between two pages, a turn-based single-agent env that waits for a key, and a phone-sized
touch screen playing CartPole with the on-screen key buttons. Every AEC game played here replays."""

from __future__ import annotations

import csv
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HostProcess, environment_with, events_of, gymcast_command, open_player, start_pair, wait_for
from gymcast.storage import SQLiteEventStore

CONNECT_FOUR = Path(__file__).resolve().parents[1] / "examples" / "connect_four"
COLUMN_ORDER = (3, 2, 4, 1, 5, 0, 6)
YOURS = "(s.turn && s.turn.yours && s.turn.step === s.step)"  # this page's move now (not an earlier one)
PHONE = {"has_touch": True, "is_mobile": True, "viewport": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def board_bundle(tmp_path_factory) -> Path:
    from gymcast.bundler.bundle import build_bundle

    out = tmp_path_factory.mktemp("turns") / "connect_four"
    build_bundle(CONNECT_FOUR, out)
    return out


@pytest.fixture(scope="module")
def board_pair_bundle(tmp_path_factory) -> Path:
    from gymcast.bundler.bundle import build_bundle

    out = tmp_path_factory.mktemp("turns") / "connect_four_together"
    build_bundle(CONNECT_FOUR / "human_human.py", out)
    return out


def column_point(page, column: int) -> tuple[float, float]:
    """The page coordinates of the middle of board column `column` (the canvas may be scaled)."""
    box = page.locator("#screen").bounding_box()
    return box["x"] + (column + 0.5) * box["width"] / 7, box["y"] + box["height"] * 0.4


def play_board(page, press, moves: int = 100) -> list[int]:
    """Play a whole Connect Four game on `page` by pressing columns, centre first; a refused column
    (full) is skipped. Returns the columns that were refused."""
    refused = []
    for _ in range(moves):
        status = wait_for(page, f"s.phase === 'done' || ({YOURS} && s.in_episode)")
        if status["phase"] == "done" or not status["in_episode"]:
            return refused
        step = status["turn"]["step"]
        for column in COLUMN_ORDER:
            notices = page.evaluate("window.gymcast.status().notice?.at ?? 0")
            press(*column_point(page, column))
            moved = wait_for(
                page,
                f"s.phase === 'done' || s.step > {step} || (s.notice && s.notice.at > {notices})",
                timeout_s=20,
            )
            if moved["phase"] == "done" or moved["step"] > step:
                break
            refused.append(column)
    return refused


def replay_matches(db: Path, bundle: Path, episodes: int) -> None:
    result = subprocess.run(
        gymcast_command("replay", str(db), "--bundle", str(bundle)),
        capture_output=True,
        text=True,
        env=environment_with(COLUMNS="200"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("match") == episodes and "diverged" not in result.stdout, result.stdout


def board_steps(store: SQLiteEventStore, session_id: str) -> list[dict]:
    return [event.data for event in events_of(store, session_id, "step")]


def assert_legal_game(steps: list[dict]) -> None:
    """Every move is a column with room, the players alternate, and the last move ends the game."""
    heights = [0] * 7
    for index, step in enumerate(steps):
        ((agent, column),) = step["actions"].items()
        assert agent == ("red" if index % 2 == 0 else "yellow"), f"move {index + 1} by {agent}"
        assert heights[column] < 6, f"move {index + 1} drops into the full column {column}"
        heights[column] += 1
    assert steps[-1]["terminated"] and not any(step["terminated"] for step in steps[:-1])


def test_the_board_game_is_played_by_clicks_against_the_python_player(browser, board_bundle, tmp_path):
    db = tmp_path / "logs.sqlite"
    with HostProcess(board_bundle, db) as host:
        page = open_player(browser, host.url, "clicker")
        page.click("#start")
        status = wait_for(page, "s.turn && s.turn.yours")
        assert page.locator("#turn-note").inner_text().startswith("Your turn")
        assert page.locator("#touch-keys").is_hidden()  # no touch screen: no key buttons
        refused = play_board(page, page.mouse.click)
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0")
        assert status["error"] is None
    store = SQLiteEventStore(db)
    steps = board_steps(store, status["session_id"])
    assert_legal_game(steps)
    (end,) = events_of(store, status["session_id"], "episode_end")
    assert end.data["terminated"] and sorted(end.data["returns"].values()) in ([-1, 1], [0, 0])
    illegal = events_of(store, status["session_id"], "illegal_move")
    assert [event.data["action"] for event in illegal] == refused
    assert all(event.data["reason"] == "illegal" for event in illegal)
    turns = events_of(store, status["session_id"], "turn")
    assert {event.data["controller"] for event in turns} == {"human", "ai"}
    replay_matches(db, board_bundle, episodes=1)
    export = subprocess.run(
        gymcast_command("export", str(db), "--format", "csv", "-o", str(tmp_path / "events.csv")), capture_output=True
    )
    assert export.returncode == 0, export.stderr
    with (tmp_path / "events.csv").open() as file:
        rows = [row for row in csv.DictReader(file) if row["type"] == "step"]
    assert [row["actions.red"] or row["actions.yellow"] for row in rows] == [
        str(next(iter(step["actions"].values()))) for step in steps
    ]


def test_a_full_column_is_refused_and_shown(browser, board_bundle, tmp_path):
    """Red plays column 3 and the scripted yellow (centre first) answers there: the 4th red click finds it full."""
    db = tmp_path / "logs.sqlite"
    with HostProcess(board_bundle, db) as host:
        page = open_player(browser, host.url, "stubborn")
        page.click("#start")
        for _ in range(3):
            status = wait_for(page, YOURS)
            page.mouse.click(*column_point(page, 3))
            wait_for(page, f"s.step > {status['turn']['step']}")
        status = wait_for(page, f"{YOURS} && s.step === 6")
        page.mouse.click(*column_point(page, 3))
        wait_for(page, "s.notice !== null")
        assert page.locator("#notice").inner_text() == "That move is not allowed."
        time.sleep(0.5)
        assert page.evaluate("window.gymcast.status().step") == 6
        wait_for(page, "s.pending_events === 0")
    store = SQLiteEventStore(db)
    (refused,) = events_of(store, status["session_id"], "illegal_move")
    assert refused.data == {**refused.data, "agent": "red", "action": 3, "key": "click", "reason": "illegal"}
    assert refused.step == 6


def test_two_pages_play_the_board_game_in_turn_based_lockstep(browser, board_pair_bundle, tmp_path):
    db = tmp_path / "logs.sqlite"
    with HostProcess(board_pair_bundle, db) as host:
        pages = start_pair(browser, host.url)
        statuses = [wait_for(page, "s.turn !== null") for page in pages]
        mover, waiter = (pages[0], pages[1]) if statuses[0]["turn"]["yours"] else (pages[1], pages[0])
        assert not statuses[pages.index(waiter)]["turn"]["yours"]
        waiter.mouse.click(*column_point(waiter, 3))  # not its turn: refused, nothing moves
        wait_for(waiter, "s.notice !== null")
        assert "not your turn" in waiter.locator("#notice").inner_text()
        time.sleep(1)
        assert waiter.evaluate("window.gymcast.status().step") == 0
        for _ in range(60):
            done = [page.evaluate("window.gymcast.status().phase") == "done" for page in pages]
            if all(done):
                break
            for page in pages:
                status = page.evaluate("window.gymcast.status()")
                if status["turn"] and status["turn"]["yours"] and status["in_episode"]:
                    play_board(page, page.mouse.click, moves=1)
            time.sleep(0.2)
        finals = [wait_for(page, "s.phase === 'done' && s.pending_events === 0") for page in pages]
    store = SQLiteEventStore(db)
    logs = [board_steps(store, status["session_id"]) for status in finals]
    for log in logs:
        for step in log:
            step.pop("step_ms"), step.pop("late_ms"), step.pop("wait_ms", None), step.pop("keys"), step.pop("held")
    assert logs[0] == logs[1]
    assert_legal_game(logs[0])
    refused = events_of(store, finals[pages.index(waiter)]["session_id"], "illegal_move")
    assert refused and refused[0].data["reason"] == "not_your_turn"
    replay_matches(db, board_pair_bundle, episodes=2)


FROZEN_LAKE = """
from gymcast import Experiment, Human

experiment = (
    Experiment("frozen_lake")
    .environment(env_id="FrozenLake-v1", env_kwargs={"is_slippery": False})
    .players({"player": Human(keys={"ArrowLeft": 0, "ArrowDown": 1, "ArrowRight": 2, "ArrowUp": 3}, default_action=None)})
    .rendering(fps=10, width=160, height=160, frame_fn="lake:draw")
    .gameplay(num_episodes=1, max_steps=20, input_mode="turns", seed=1)
)
"""
LAKE = """
import numpy as np


def draw(env):
    frame = np.full((160, 160, 3), 230, dtype=np.uint8)
    row, column = divmod(int(env.unwrapped.s), 4)
    frame[row * 40 : row * 40 + 40, column * 40 : column * 40 + 40] = (200, 30, 30)
    return frame
"""


def test_a_turn_based_single_agent_env_waits_for_a_key(browser, tmp_path):
    from gymcast.bundler.bundle import build_bundle

    folder = tmp_path / "frozen_lake"
    folder.mkdir()
    (folder / "experiment.py").write_text(FROZEN_LAKE)
    (folder / "lake.py").write_text(LAKE)
    bundle = tmp_path / "bundle"
    build_bundle(folder, bundle)
    db = tmp_path / "logs.sqlite"
    with HostProcess(bundle, db) as host:
        page = open_player(browser, host.url, "walker")
        page.click("#start")
        wait_for(page, "s.turn && s.turn.yours && s.in_episode")
        time.sleep(2)  # at 10 steps per second a real-time game would have taken 20 steps by now
        assert page.evaluate("window.gymcast.status().step") == 0
        page.keyboard.press("ArrowRight")
        wait_for(page, "s.step === 1")
        time.sleep(1)
        assert page.evaluate("window.gymcast.status().step") == 1
        for key in ["ArrowRight", "ArrowDown", "ArrowDown", "ArrowDown", "ArrowRight"]:
            step = page.evaluate("window.gymcast.status().step")
            page.keyboard.press(key)
            wait_for(page, f"s.step > {step} || s.phase === 'done'")
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0")
    store = SQLiteEventStore(db)
    steps = board_steps(store, status["session_id"])
    assert [step["actions"]["player"] for step in steps] == [2, 2, 1, 1, 1, 2]
    assert steps[-1]["terminated"] and steps[-1]["rewards"] == {"player": 1.0}
    assert [step["keys"]["player"] for step in steps][:2] == ["ArrowRight", "ArrowRight"]


def test_a_phone_plays_cartpole_with_the_on_screen_buttons(browser, host):
    context = browser.new_context(**PHONE)
    page = open_player(browser, host.url, "phone", context)
    buttons = [button.get_attribute("data-key") for button in page.locator("#touch-keys button").all()]
    assert buttons == ["ArrowLeft", "ArrowRight"]
    box = page.locator("#screen").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # the canvas fits the phone's width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    button = page.locator("[data-key='ArrowRight']")
    pointer = {"pointerId": 7, "pointerType": "touch", "isPrimary": True}
    button.dispatch_event("pointerdown", pointer)  # held from before the start, like the keyboard tests' key
    page.locator("#start").tap()
    wait_for(page, "s.episode === 1")  # holding → pushes the cart right until the pole falls
    button.dispatch_event("pointerup", pointer)
    wait_for(page, "s.episode === 2 && s.in_episode")
    page.locator("[data-key='ArrowLeft']").dispatch_event("pointerdown", pointer)
    status = wait_for(page, "s.phase === 'done' && s.pending_events === 0")
    context.close()
    store = SQLiteEventStore(host.data)
    keys = [(e.data["key"], e.data["down"]) for e in events_of(store, status["session_id"], "key")]
    assert keys == [("ArrowRight", False), ("ArrowLeft", True)]  # the first press came before the run began
    steps = [{**e.data, "episode": e.episode} for e in events_of(store, status["session_id"], "step")]
    first = [step for step in steps if step["episode"] == 0]
    assert first and all(step["actions"]["player"] == 1 and step["keys"]["player"] == "ArrowRight" for step in first)
    held = [step for step in steps if step["episode"] == 2 and step["keys"]["player"] == "ArrowLeft"]
    assert held and all(step["actions"]["player"] == 0 for step in held)


def test_a_phone_plays_the_board_game_by_taps(browser, board_bundle, tmp_path):
    db = tmp_path / "logs.sqlite"
    with HostProcess(board_bundle, db) as host:
        context = browser.new_context(**PHONE)
        page = open_player(browser, host.url, "tapper", context)
        page.locator("#start").tap()
        wait_for(page, "s.turn && s.turn.yours")
        box = page.locator("#screen").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert [b.get_attribute("data-key") for b in page.locator("#touch-keys button").all()] == list("1234567")
        play_board(page, page.touchscreen.tap)
        status = wait_for(page, "s.phase === 'done' && s.pending_events === 0")
        context.close()
    store = SQLiteEventStore(db)
    steps = board_steps(store, status["session_id"])
    assert_legal_game(steps)
    assert all(step["keys"]["red"] == "click" for step in steps if "red" in step["actions"])
    replay_matches(db, board_bundle, episodes=1)
