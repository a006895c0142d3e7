"""Pure browser modules under Node (tests/node/browser_modules.mjs): object rendering's gliding, turning and
removal, the participant id's sources, the condition a bundle without a host derives from the id, and the outbox's
batch limits."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import gymcast.browser_runtime
from gymcast.contracts import LOG_BATCH_CHARS, LOG_BATCH_EVENTS
from gymcast.server.schema import MAX_BODY_BYTES, MAX_EVENTS_PER_BATCH

JS = Path(gymcast.browser_runtime.__file__).parent / "js"
RUNNER = Path(__file__).parent / "node" / "browser_modules.mjs"


def run(check: str) -> dict:
    if shutil.which("node") is None:
        pytest.fail("node is missing; gymcast's tests need Node.js 20+")
    result = subprocess.run(["node", str(RUNNER), str(JS), check], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_objects_glide_over_one_step_turn_the_short_way_and_vanish_with_their_id():
    seen = run("objects")
    assert [seen[t]["a"]["x"] for t in ("start", "half", "end")] == [0, 50, 100]  # glides from 0 to 100
    assert [seen[t]["a"]["angle"] % 360 for t in ("start", "half", "end")] == [350, 0, 10]  # 350 -> 10 via 0
    assert [seen[t]["c"]["x"] for t in ("start", "half", "end")] == [80, 80, 80]  # tween=False jumps at once
    assert seen["b"] == {"kept": False, "destroyed": True}  # its id is gone from the step: removed


def fnv1a_condition(participant: str, conditions: list[str]) -> str:
    """The documented rule, written independently: FNV-1a (32 bit) over the id's code points, modulo the count."""
    value = 0x811C9DC5
    for char in participant:
        value = ((value ^ ord(char)) * 0x01000193) % 2**32
    return conditions[value % len(conditions)]


def test_participant_ids_come_from_prolific_then_workerid_then_participant_id_else_a_kept_generated_one():
    seen = run("participant")
    assert seen["prolific_first"] == {"id": "p", "source": "PROLIFIC_PID"}
    assert seen["worker"] == {"id": "w1", "source": "workerId"}
    assert seen["generic"] == {"id": "x1", "source": "participant_id"}
    assert seen["generated"]["source"] == "generated" and seen["generated"]["id"].startswith("anon-")
    assert seen["generated_again"] == seen["generated"]  # kept in localStorage for the study
    assert seen["other_study"]["id"] != seen["generated"]["id"]
    assert seen["long"] == 128


def test_without_a_host_the_condition_is_a_hash_of_the_participant_id():
    conditions = run("participant")["conditions"]
    assert conditions == {p: fnv1a_condition(p, ["a", "b", "c"]) for p in conditions}
    assert set(conditions.values()) == {"a", "b", "c"}


def test_the_outbox_caps_a_batch_by_events_and_by_json_size_and_sends_an_oversized_event_alone():
    seen = run("outbox")
    assert seen["small"] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]  # batchSize 4
    assert seen["large"] == [[11, 12], [13], [14]]  # batchChars 300: two ~130-character events, then one alone


def test_the_outbox_batch_limits_fit_the_hosts_request_limits():
    assert LOG_BATCH_EVENTS <= MAX_EVENTS_PER_BATCH
    assert 3 * LOG_BATCH_CHARS + 1024 < MAX_BODY_BYTES  # 3 bytes a JSON character at most, plus the envelope
