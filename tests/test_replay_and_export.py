"""Replay and dataset export of a browser-played CartPole log."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from conftest import environment_with, gymcast_command


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        gymcast_command(*args), capture_output=True, text=True, env=environment_with(COLUMNS="200", **env)
    )


def copy_db(source, target):
    """A consistent copy of a WAL-mode database (the main file alone may miss committed pages)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def step_rows(db) -> list[tuple[int, int, str]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT episode, step, data FROM events WHERE type = 'step' ORDER BY seq").fetchall()


def test_replay_of_the_browser_episodes_is_a_full_match(played_cartpole):
    result = run_cli("replay", str(played_cartpole.db), "--bundle", str(played_cartpole.bundle))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("match") == 3
    assert "diverged" not in result.stdout and "incomplete" not in result.stdout


def test_a_corrupted_action_is_reported_at_its_step(played_cartpole, tmp_path):
    db = copy_db(played_cartpole.db, tmp_path / "corrupted.sqlite")
    episode, step, data = next(row for row in step_rows(db) if row[0] == 1 and row[1] == 4)
    corrupted = json.loads(data)
    corrupted["actions"]["player"] = 1 - corrupted["actions"]["player"]
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE events SET data = ? WHERE type = 'step' AND episode = 1 AND step = 4", (json.dumps(corrupted),)
        )
    result = run_cli("replay", str(db), "--bundle", str(played_cartpole.bundle))
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if "diverged" in line]
    assert len(lines) == 1 and "diverged at step 4" in lines[0]
    assert result.stdout.count("match") == 2


def test_a_missing_step_is_reported_as_incomplete(played_cartpole, tmp_path):
    db = copy_db(played_cartpole.db, tmp_path / "gap.sqlite")
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM events WHERE type = 'step' AND episode = 0 AND step = 2")
    result = run_cli("replay", str(db), "--bundle", str(played_cartpole.bundle))
    assert "step 2 is missing from the log" in result.stdout


def test_minari_dataset_loads_with_the_logged_episode_lengths(played_cartpole, tmp_path):
    result = run_cli(
        "export",
        str(played_cartpole.db),
        "--format",
        "minari",
        "--bundle",
        str(played_cartpole.bundle),
        "-o",
        str(tmp_path / "datasets"),
    )
    assert result.returncode == 0, result.stderr
    import os

    os.environ["MINARI_DATASETS_PATH"] = str(tmp_path / "datasets")
    import minari

    dataset = minari.load_dataset("gymcast/cartpole/human-v0")
    lengths = {}
    for episode, step, _ in step_rows(played_cartpole.db):
        lengths[episode] = max(lengths.get(episode, 0), step)
    assert dataset.total_episodes == 3
    for index, episode in enumerate(dataset.iterate_episodes()):
        assert len(episode.actions) == lengths[index]
        assert episode.observations.shape == (lengths[index] + 1, 4)
        assert bool(episode.terminations[-1] or episode.truncations[-1])


def test_csv_and_parquet_have_one_row_per_event_with_flat_columns(played_cartpole, tmp_path):
    with sqlite3.connect(played_cartpole.db) as connection:
        total = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    for fmt, read in (("csv", pa_csv.read_csv), ("parquet", pq.read_table)):
        out = tmp_path / f"events.{fmt}"
        result = run_cli("export", str(played_cartpole.db), "--format", fmt, "-o", str(out))
        assert result.returncode == 0, result.stderr
        table = read(out)
        assert table.num_rows == total
        for column in ("session_id", "seq", "type", "episode", "step", "actions.player", "rewards.player", "obs_hash"):
            assert column in table.column_names, (fmt, column)


def test_csv_without_an_output_file_is_a_usage_error(played_cartpole):
    result = run_cli("export", str(played_cartpole.db), "--format", "csv")
    assert result.returncode == 2 and "needs -o FILE" in result.stderr
