"""The relay's load harness runs as one command against a real `gymcast serve` and a Redis-backed pair of
workers, and its own client (which splits the host's frames itself during play) hears every action."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(
    r"^\s*(?P<server>\S+)\s+(?P<groups>\d+)\s+(?P<players>\d+)\s+(?P<relayed_s>\d+)\s+(?P<relayed>[\d.]+)\s+"
    r"(?P<p50>[\d.]+)\s+(?P<p99>[\d.]+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(?P<dropped>\d+)$"
)


def test_the_relay_harness_relays_every_action_of_a_few_groups():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "relay_load.py"),
            *("--groups", "5", "--servers", "gunicorn", "redis:2", "--seconds", "3", "--limit-s", "60"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = {match["server"]: match for line in result.stdout.splitlines() if (match := ROW.match(line))}
    assert set(rows) == {"gunicorn", "redis:2"}, result.stdout
    for row in rows.values():
        assert (row["groups"], row["players"], row["relayed"], row["dropped"]) == ("5", "10", "100.0", "0"), row[0]
        assert float(row["p50"]) > 0 and float(row["p99"]) >= float(row["p50"])
