"""on_dropout="default_action" in Chromium: when a player leaves, the partner's browser plays the empty seat with
that seat's default action, and the game goes on."""

from __future__ import annotations

from conftest import HostProcess, events_of, open_player, steps_by_session, wait_for
from gymcast.storage import SQLiteEventStore
from test_netplay_chromium import DUO, duo_bundle

#: each seat's default action (tests/fixtures/experiments/duo) and a key whose action differs from it
DEFAULTS = {"top": (0, "ArrowRight"), "bottom": (1, "ArrowLeft")}
RULES = {"wait_timeout_s": 8, "on_timeout": "end", "grace_s": 30, "on_dropout": "default_action", "hash_every": 5}


def test_a_seat_left_empty_takes_its_default_action(browser, tmp_path):
    assert DUO.is_dir()
    bundle = duo_bundle(tmp_path / "bundle", max_steps=600, multiplayer=RULES)
    with HostProcess(bundle, tmp_path / "logs.sqlite") as host:
        stay = open_player(browser, host.url, "stays")
        leave = open_player(browser, host.url, "leaves")
        for page in (stay, leave):
            page.click("#start")
        seat = wait_for(leave, "s.net && s.net.seat && s.step >= 1", 60)["net"]["seat"]
        default, other_key = DEFAULTS[seat]
        leave.keyboard.down(other_key)  # until it leaves, the seat plays something other than its default
        wait_for(stay, "s.step >= 30", 60)
        leave.context.close()  # mid-episode
        away = wait_for(stay, "s.net.partner !== 'human'", 30)
        wait_for(stay, f"s.step >= {away['step'] + 30} || s.phase === 'done'", 60)
        status = wait_for(stay, "s.phase === 'done' && s.pending_events === 0", 90)
    store = SQLiteEventStore(tmp_path / "logs.sqlite")
    steps = steps_by_session(store)[status["session_id"]]
    assert any(s["actions"][seat] != default for n, s in steps.items() if n < away["step"])
    in_flight = away["net"]["input_delay"] + 1  # actions the player sent for later steps before leaving
    after = [s["actions"][seat] for n, s in steps.items() if n > away["step"] + in_flight]
    assert len(after) >= 20 and set(after) == {default}, after
    assert [e.type for e in store.iter_relay_events() if e.type == "dropout"] == ["dropout"]
    assert events_of(store, status["session_id"], "episode_end")  # the partner played on to the end
