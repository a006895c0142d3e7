"""The load-and-play harness (issue 8) runs as one command and prints its two tables, and the README's
start-up figures are the ones bench/RESULTS.md records."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import run_bench

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (
    "baseline (as published)",
    "pre-compressed",
    "pre-compressed, slim",
    "pre-compressed, slim, repacked",
    "default + snapshot after imports",
)
#: the variants this test measures: the published bundle against the default build (the others take as long
#: again and are compared in bench/RESULTS.md)
MEASURED = ("baseline (as published)", "pre-compressed, slim")
ROW = re.compile(
    r"^(?P<bundle>\w+)\s+(?P<network>unthrottled|\d+ Mbit/s, \d+ ms RTT)\s+(?P<visit>cold|warm)\s+"
    r"(?P<variant>.+?)\s+(?P<start>[\d.]+)\s+(?P<frame>[\d.]+)\s+(?P<mb>[\d.]+)$"
)


def test_the_harness_prints_start_up_before_and_after_and_play_figures():
    stdout = run_bench(
        "startup.py",
        *("--bundles", "cartpole", "--profiles", "unthrottled,20mbit", "--seconds", "8"),
        *("--variants", ";".join(MEASURED)),
        timeout_s=1200,
    )
    rows = {(m["network"], m["visit"], m["variant"]): m for m in map(ROW.match, stdout.splitlines()) if m}
    reference = "20 Mbit/s, 40 ms RTT"
    assert {key for key in rows if key[0] == reference} == {
        (reference, visit, variant) for visit in ("cold", "warm") for variant in MEASURED
    }
    figure = lambda visit, variant, name: float(rows[(reference, visit, variant)][name])  # noqa: E731
    # after (the default build) against before (as published), measured in the same run
    assert figure("cold", "pre-compressed, slim", "mb") < figure("cold", "baseline (as published)", "mb")
    for visit in ("cold", "warm"):
        assert figure(visit, "pre-compressed, slim", "start") < figure(visit, "baseline (as published)", "start")
        assert 0 < figure(visit, "pre-compressed, slim", "start") <= figure(visit, "pre-compressed, slim", "frame")
    play = stdout.split("\nPlay, unthrottled, warm", 1)[1]
    for name in ("steps late by more than one period", "display frames dropped"):
        late, total = re.search(rf"^{name}\s+(\d+)/(\d+)$", play, re.M).groups()
        assert int(total) >= 30 and int(late) < int(total), (name, late, total)  # a second or more was counted
    assert re.search(r"^input-to-screen p50 \(ms\)\s+[\d.]+$", play, re.M)


def test_the_readme_states_the_cartpole_figures_results_md_records():
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    readme = (ROOT / "README.md").read_text()
    recorded: dict[tuple[str, str], float] = {}  # from the newest full run: RESULTS.md's sections are newest first
    for visit, variant, start in re.findall(
        r"^\| cartpole \| 20 Mbit/s, 40 ms RTT \| (cold|warm) \| (.+?) \| ([\d.]+) \|", results, re.M
    ):
        recorded.setdefault((visit, variant), float(start))
    assert len(recorded) == 2 * len(VARIANTS)
    run = re.search(r"`\./scripts/bench\.sh`.*?(\d{4}-\d\d-\d\d \d\d:\d\d)", results, re.S).group(1)
    assert f"Current figures\n({run}, one run" in readme
    for visit in ("cold", "warm"):
        stated = re.search(rf"^\| navigation → Start button, {visit} \| (.+) \|$", readme, re.M).group(1)
        cells = [float(cell.strip().removesuffix(" s")) for cell in stated.split("|")]
        assert cells == [round(recorded[(visit, variant)], 1) for variant in VARIANTS], (visit, cells)
