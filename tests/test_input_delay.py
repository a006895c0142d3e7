"""The input delay the host gives a group: one step more than the slowest measured round trip, or the set value."""

from __future__ import annotations

import dataclasses
import math

import pytest

from gymcast.relay import GameRules

RULES = GameRules(
    game="g",
    seats=("left", "right"),
    fps=30,
    seed=1,
    wait_timeout_s=60.0,
    on_timeout="end",
    timeout_code="",
    timeout_redirect="",
    grace_s=10.0,
    on_dropout="ai",
    hash_every=5,
    input_delay=None,
)


@pytest.mark.parametrize(
    ("rtts_ms", "steps"),
    [([], 1), ([0.0], 1), ([10.0, 20.0], 2), ([20.0, 50.0], 3), ([100.0, 12.0], 4), ([101.0], 5), ([40.0, 140.0], 6)],
)
def test_the_delay_covers_the_slowest_round_trip_plus_one_step(rtts_ms, steps):
    assert RULES.input_delay_for(rtts_ms) == steps
    period_ms = 1000 / RULES.fps
    assert steps == max(1, math.ceil(max(rtts_ms, default=0) / period_ms) + 1)  # the README's wording, literally


def test_a_set_input_delay_wins_and_a_huge_round_trip_is_capped():
    assert dataclasses.replace(RULES, input_delay=7).input_delay_for([500.0]) == 7
    assert RULES.input_delay_for([60_000.0]) < 60_000 / (1000 / RULES.fps)
