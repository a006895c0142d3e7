"""The relay's load harness runs as one command against a real `gymcast serve` and a Redis-backed pair of
workers, and its own client (which splits the host's frames itself during play) hears every action."""

from __future__ import annotations

import re

from conftest import run_bench

ROW = re.compile(
    r"^\s*(?P<server>\S+)\s+(?P<groups>\d+)\s+(?P<players>\d+)\s+(?P<relayed_s>\d+)\s+(?P<relayed>[\d.]+)\s+"
    r"(?P<p50>[\d.]+)\s+(?P<p99>[\d.]+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(?P<loop_on_cpu>[\d.]+)\s+(?P<loop_waits>[\d.]+)\s+"
    r"(?P<dropped>\d+)$"
)


def test_the_relay_harness_relays_every_action_of_a_few_groups():
    args = ("--groups", "5", "--servers", "gunicorn", "redis:2", "--seconds", "3", "--limit-s", "60")
    stdout = run_bench("relay_load.py", *args, timeout_s=300)
    rows = {match["server"]: match for line in stdout.splitlines() if (match := ROW.match(line))}
    assert set(rows) == {"gunicorn", "redis:2"}, stdout
    for row in rows.values():
        assert (row["groups"], row["players"], row["relayed"], row["dropped"]) == ("5", "10", "100.0", "0"), row[0]
        assert float(row["p50"]) > 0 and float(row["p99"]) >= float(row["p50"])
        assert 0 < float(row["loop_on_cpu"]) <= 101 and float(row["loop_waits"]) >= 0, row[0]  # a thread's share
