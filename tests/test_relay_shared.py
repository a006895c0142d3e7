"""The relay's state shared through Redis: players on different `gymcast serve` processes meet and play.

Real processes (`gymcast serve --redis`), a real redis-server and PostgreSQL, real websockets: each
client connects to a different host process.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from gymcast.relay.switchboard import DEAD_AFTER_S
from gymcast.storage import open_store
from gymcast.testing import HostProcess, gymcast_command
from relay_client import RelayClient, create_session
from test_relay import relay_bundle, relay_events, wait_for_events, wait_until


@pytest.fixture
def data(request, tmp_path):
    """One PostgreSQL database that both host processes log to."""
    from types import SimpleNamespace

    from conftest import fresh_data

    return fresh_data(SimpleNamespace(param="postgresql", getfixturevalue=request.getfixturevalue), tmp_path)


@pytest.fixture
def hosts(tmp_path, data, redis_url):
    """Start two host processes sharing Redis and the database, for a manifest with these rules."""
    started: list[HostProcess] = []

    def start(**rules) -> tuple[HostProcess, HostProcess]:
        bundle = relay_bundle(tmp_path / "bundle", **rules)
        for _ in range(2):
            started.append(HostProcess(bundle, data, extra_args=("--redis", redis_url)).start())
        return started[0], started[1]

    yield start
    for host in started:
        host.stop()


def pair_across(first_host: HostProcess, second_host: HostProcess) -> tuple[RelayClient, RelayClient]:
    """A client on each host process, matched into one group."""
    first = RelayClient(first_host.url, create_session(first_host.url))
    first.expect("waiting")
    second = RelayClient(second_host.url, create_session(second_host.url))
    matched = first.expect("matched"), second.expect("matched")
    assert matched[0]["group_id"] == matched[1]["group_id"]
    assert (matched[0]["seat"], matched[1]["seat"]) == ("left", "right")
    return first, second


def test_players_on_different_processes_are_matched_and_play_in_lockstep(hosts, data):
    first_host, second_host = hosts()
    first, second = pair_across(first_host, second_host)
    for step in range(1, 31):
        first.send(type="action", episode=0, step=step, agent="left", action=step % 2)
        second.send(type="action", episode=0, step=step, agent="right", action=1 - step % 2)
    from_first = [second.expect("action") for _ in range(30)]
    from_second = [first.expect("action") for _ in range(30)]
    assert [(m["agent"], m["step"], m["action"]) for m in from_first] == [("left", s, s % 2) for s in range(1, 31)]
    assert [(m["agent"], m["step"], m["action"]) for m in from_second] == [
        ("right", s, 1 - s % 2) for s in range(1, 31)
    ]
    second.send(type="action", episode=0, step=31, agent="left", action=0)
    assert "do not control seat 'left'" in second.expect("error")["message"]
    store = open_store(data)
    (formed,) = relay_events(store, "group_formed")
    assert formed.data["members"] == {"left": first.session_id, "right": second.session_id}


def test_a_dropped_player_rejoins_through_the_other_process(hosts, data):
    first_host, second_host = hosts(on_dropout="default_action")
    first, second = pair_across(first_host, second_host)
    second.send(type="action", episode=0, step=5, agent="right", action=1)
    first.expect("action")
    second.close()
    seat = first.expect("seat")
    assert (seat["agent"], seat["controller"], seat["proxy"]) == ("right", "fallback", "left")
    back = RelayClient(first_host.url, (second.session_id, second.token))  # now on the first process
    assert back.expect("matched")["rejoin"] is True
    assert first.expect("seat")["controller"] == "human"
    request = first.expect("snapshot_request")
    assert request["reason"] == "rejoin"
    first.send(type="snapshot", request_id=request["request_id"], episode=0, step=5, state="eA==", returns={})
    assert back.expect("state")["step"] == 5
    back.send(type="action", episode=0, step=6, agent="right", action=1)
    assert first.expect("action") == {"type": "action", "episode": 0, "step": 6, "agent": "right", "action": 1}
    kinds = [event.type for event in open_store(data).iter_relay_events()]
    assert kinds.index("dropout") < kinds.index("rejoin") < kinds.index("state_sent")


def test_a_desync_between_processes_is_repaired_and_confirmed(hosts, data):
    first_host, second_host = hosts()
    first, second = pair_across(first_host, second_host)
    first.send(type="hash", episode=0, step=30, hash="aa" * 8)
    second.send(type="hash", episode=0, step=30, hash="bb" * 8)
    store = open_store(data)
    (desync,) = wait_for_events(store, "desync")
    reference, repaired = (first, second) if desync.data["reference"] == "left" else (second, first)
    request = reference.expect("snapshot_request")
    assert (request["step"], request["reason"]) == (30, "desync")
    reference.send(type="snapshot", request_id=request["request_id"], episode=0, step=30, state="c3Q=", returns={})
    assert repaired.expect("state")["state"] == "c3Q="
    reference.send(type="hash", episode=0, step=45, hash="ee" * 8)
    repaired.send(type="hash", episode=0, step=45, hash="ee" * 8, repairs=1)
    (confirmed,) = wait_for_events(store, "repair_confirmed")
    assert confirmed.data["repair_step"] == [0, 30]


def test_when_a_process_is_killed_its_players_drop_out_and_the_grace_period_runs_out_elsewhere(hosts, data):
    first_host, second_host = hosts(on_dropout="end", grace_s=2)
    first, second = pair_across(first_host, second_host)
    first_host.kill()  # SIGKILL: no disconnect is reported by the process that held the connection
    seat = second.expect("seat", timeout_s=DEAD_AFTER_S + 10)  # the surviving process finds the orphaned connection
    assert (seat["agent"], seat["controller"]) == ("left", "absent")
    assert second.expect("end", timeout_s=10)["reason"] == "partner_left"
    store = open_store(data)
    (dropout,) = relay_events(store, "dropout")
    assert dropout.data["reason"] == "its host process stopped"
    assert [e.data["agent"] for e in relay_events(store, "seat_abandoned")] == ["left"]


def test_a_player_waiting_on_a_killed_process_is_not_matched(hosts):
    first_host, second_host = hosts()
    lonely = RelayClient(first_host.url, create_session(first_host.url))
    lonely.expect("waiting")
    wait_until(lambda: any(m["type"] == "waiting" and m["waited_s"] >= 1 for m in lonely.seen))  # pong handled
    first_host.kill()
    time.sleep(DEAD_AFTER_S + 2)  # longer than a process takes to be found dead
    newcomer = RelayClient(second_host.url, create_session(second_host.url))
    newcomer.expect("waiting")
    time.sleep(2)
    assert not any(m["type"] == "matched" for m in newcomer.seen)


def test_several_workers_of_one_host_serve_a_networked_bundle_with_redis(tmp_path, data, redis_url):
    bundle = relay_bundle(tmp_path / "bundle")
    refused = subprocess.run(
        gymcast_command("serve", str(bundle), "--workers", "2", "--data", str(data), "--port", "1"),
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "--redis" in refused.stderr, refused.stderr
    with HostProcess(bundle, data, extra_args=("--workers", "2", "--redis", redis_url)) as host:
        clients = []
        for _ in range(6):  # gunicorn hands connections to either worker: three groups, some across workers
            clients.append(RelayClient(host.url, create_session(host.url)))
            clients[-1].expect("waiting")
        groups = [client.expect("matched")["group_id"] for client in clients]
        assert groups[0::2] == groups[1::2] and len(set(groups)) == 3
        for left, right in zip(clients[0::2], clients[1::2], strict=True):
            left.send(type="action", episode=0, step=1, agent="left", action=1)
            assert right.expect("action")["agent"] == "left"


def test_a_player_whose_process_was_killed_rejoins_through_the_other_before_it_is_found_dead(hosts, data):
    first_host, second_host = hosts(on_dropout="default_action")
    first, second = pair_across(first_host, second_host)
    first.send(type="action", episode=0, step=1, agent="left", action=1)
    second.expect("action")
    first_host.kill()
    back = RelayClient(second_host.url, (first.session_id, first.token))  # at once: no dropout was recorded
    assert back.expect("matched")["rejoin"] is True
    request = second.expect("snapshot_request")
    second.send(type="snapshot", request_id=request["request_id"], episode=0, step=1, state="eA==", returns={})
    assert back.expect("state")["step"] == 1
    back.send(type="action", episode=0, step=2, agent="left", action=0)
    assert second.expect("action") == {"type": "action", "episode": 0, "step": 2, "agent": "left", "action": 0}
    second.send(type="action", episode=0, step=2, agent="right", action=1)
    assert back.expect("action")["step"] == 2
    time.sleep(DEAD_AFTER_S + 1)  # the killed process is found dead: its old connection changes nothing
    back.send(type="action", episode=0, step=3, agent="left", action=1)
    assert second.expect("action")["step"] == 3
    assert "dropout" not in [event.type for event in open_store(data).iter_relay_events()]
