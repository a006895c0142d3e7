"""The log tools on a log written natively (no browser): `--session` filters replay and export, the Minari
export stops at an episode that does not replay, and the host caps batches at 1000 events."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import rows
from gymcast.replay import open_bundle
from gymcast.storage import NewSession, open_store
from test_host import new_session, request, step_event, stored_seqs
from test_replay_and_export import run_cli

SESSIONS = {"first": 11, "second": 40}


def play_natively(bundle: Path, db: Path | str) -> None:
    """Two sessions of two CartPole episodes each (action: 1 on even steps), logged as the browser logs them."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    store = open_store(db)
    with open_bundle(bundle) as game:
        key = next(iter(game.games))
        for session_id, base_seed in SESSIONS.items():
            store.create_session(
                NewSession(
                    session_id=session_id,
                    experiment=manifest["game"]["name"],
                    build_id=manifest["build_id"],
                    url_params={},
                    user_agent="native",
                    created_at=1.7e9,
                    participant_id=session_id,
                )
            )
            events: list[dict] = [{"type": "run_start", "game": key, "base_seed": base_seed, "num_episodes": 2}]
            session = game.session(key)
            for episode in range(2):
                reset = session.reset(base_seed + episode, episode)
                events.append({"type": "episode_start", "episode": episode, "seed": base_seed + episode, **reset})
                while True:
                    record = session.step({"player": session.step_count % 2})
                    events.append({"type": "step", "episode": episode, **record})
                    if record["terminated"] or record["truncated"]:
                        break
                events.append({"type": "episode_end", "episode": episode})
            numbered = [{"seq": seq, "t": 1.7e12 + seq, **event} for seq, event in enumerate(events, start=1)]
            store.append_events(session_id, numbered)


@pytest.fixture
def native_log(cartpole_bundle, tmp_path) -> Path:
    db = tmp_path / "native.sqlite"
    play_natively(cartpole_bundle, db)
    return db


@pytest.fixture
def each_native_log(cartpole_bundle, each_data) -> Path | str:
    """The native log in a SQLite file, then in a PostgreSQL database."""
    play_natively(cartpole_bundle, each_data)
    return each_data


def test_replay_and_export_take_only_the_named_session(cartpole_bundle, each_native_log, tmp_path):
    native_log = each_native_log
    result = run_cli("replay", str(native_log), "--bundle", str(cartpole_bundle))
    assert result.returncode == 0 and result.stdout.count("match") == 4, result.stdout
    result = run_cli("replay", str(native_log), "--bundle", str(cartpole_bundle), "--session", "second")
    assert result.returncode == 0 and result.stdout.count("match") == 2, result.stdout
    assert "second" in result.stdout and "first" not in result.stdout
    out = tmp_path / "second.jsonl"
    assert (
        run_cli("export", str(native_log), "--format", "jsonl", "--session", "second", "-o", str(out)).returncode == 0
    )
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    stored = rows(native_log, "SELECT COUNT(*) FROM events WHERE session_id = 'second'")[0][0]
    assert len(exported) == stored and {e["session_id"] for e in exported} == {"second"}


def test_the_minari_export_stops_at_an_episode_that_does_not_replay(cartpole_bundle, native_log, tmp_path):
    with sqlite3.connect(native_log) as db:
        seq, data = db.execute(
            "SELECT seq, data FROM events WHERE session_id = 'second' AND episode = 1 AND step = 3"
        ).fetchone()
        record = json.loads(data)
        record["actions"]["player"] = 1 - record["actions"]["player"]
        db.execute("UPDATE events SET data = ? WHERE session_id = 'second' AND seq = ?", (json.dumps(record), seq))
    datasets = tmp_path / "datasets"
    args = ("export", str(native_log), "--format", "minari", "--bundle", str(cartpole_bundle), "-o", str(datasets))
    result = run_cli(*args)
    assert result.returncode != 0
    message = " ".join((result.stdout + result.stderr).split())
    assert "session second episode 1 diverges from its log at step 3" in message
    assert "wrote Minari dataset" not in message
    assert run_cli(*args, "--session", "first").returncode == 0  # the other session alone exports


def test_a_batch_of_more_than_1000_events_is_refused_and_nothing_is_written(host):
    session = new_session(host)
    path = f"/api/v1/sessions/{session['session_id']}/events"
    small = [{**step_event(seq), "actions": {}, "rewards": {}} for seq in range(1, 1002)]
    response, data = request(host, "POST", path, {"schema": 1, "events": small}, session["token"])
    assert response.status == 400 and b"1000" in data, data
    assert stored_seqs(host, session["session_id"]) == []
    response, data = request(host, "POST", path, {"schema": 1, "events": small[:1000]}, session["token"])
    assert response.status == 200 and len(json.loads(data)["acked"]) == 1000
