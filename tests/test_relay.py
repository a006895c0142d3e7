"""The relay over real websockets and a real SQLite file: matching, forwarding, desync repair, dropouts."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

from conftest import fresh_data
from gymcast import Experiment, Human, RandomPolicy
from gymcast.contracts import LOG_SCHEMA
from gymcast.server import create_app
from gymcast.storage import open_store
from gymcast.testing import manifest_only_bundle
from relay_client import RelayClient, create_session


def experiment(**rules) -> Experiment:
    return (
        Experiment("relay_test")
        .environment(env_id="CartPole-v1")
        .players({"left": Human(keys={"a": 0}), "right": Human(keys={"b": 1})})
        .gameplay(seed=5)
        .multiplayer(**{"wait_timeout_s": 30, "grace_s": 30, **rules})
    )


def relay_bundle(folder: Path, **rules) -> Path:
    """A bundle folder holding only a manifest with these multiplayer rules (the relay needs nothing else)."""
    return manifest_only_bundle(folder, experiment(**rules))


@pytest.fixture(params=["sqlite", "postgresql", "sqlite+redis"])
def backend(request, tmp_path) -> tuple[Path | str, str | None]:
    """Where a test's host logs, and the Redis its relay keeps its state in (None: in memory): each storage
    with the relay in memory, then the relay's state in Redis."""
    storage, _, relay = request.param.partition("+")
    data = fresh_data(SimpleNamespace(param=storage, getfixturevalue=request.getfixturevalue), tmp_path)
    return data, request.getfixturevalue("redis_url") if relay else None


@pytest.fixture
def serve(tmp_path, backend):
    """Start a host for a manifest with these multiplayer rules; yields (url, store). Runs on each storage,
    and with the relay's state in Redis (the hosts of one test share its database or SQLite folder, as
    their logs never mix)."""
    servers = []
    data, redis_url = backend

    def start(**rules):
        bundle = relay_bundle(tmp_path / f"bundle{len(servers)}", **rules)
        store = open_store(str(data).replace("logs.sqlite", f"logs{len(servers)}.sqlite"))
        app = create_app(bundle, store, redis_url=redis_url)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, app.extensions["gymcast.relay"]))
        return f"http://127.0.0.1:{server.server_port}", store

    yield start
    for server, relay in servers:
        server.shutdown()
        relay.stop()


def pair(url):
    first = RelayClient(url, create_session(url))
    first.expect("waiting")
    second = RelayClient(url, create_session(url))
    return first, second, first.expect("matched"), second.expect("matched")


def wait_until(condition, timeout_s=10.0):
    """Wait until `condition()` is true (polling), or fail."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still false after {timeout_s} s"
        time.sleep(0.02)


def relay_events(store, kind):
    return [event for event in store.iter_relay_events() if event.type == kind]


def test_players_are_grouped_by_arrival_and_the_group_is_stored(serve):
    url, store = serve()
    first, second, matched_first, matched_second = pair(url)
    assert (matched_first["seat"], matched_second["seat"]) == ("left", "right")
    assert matched_first["group_id"] == matched_second["group_id"]
    assert matched_first["seed"] == 5 and matched_first["input_delay"] >= 1
    (formed,) = relay_events(store, "group_formed")
    assert formed.data["members"] == {"left": first.session_id, "right": second.session_id}
    assert store.group_of(second.session_id) == (matched_first["group_id"], "right")


def test_hidden_players_wait_until_visible(serve):
    url, _ = serve()
    hidden = RelayClient(url, create_session(url), visible=False)
    hidden.expect("waiting")
    other = RelayClient(url, create_session(url))
    # the room ticks at least once while both wait (each measured), so a match would have happened by now
    wait_until(lambda: any(m["type"] == "waiting" and m["waited_s"] >= 1 for m in other.seen))
    assert not any(m["type"] == "matched" for m in hidden.seen + other.seen)
    hidden.send(type="visibility", visible=True)
    assert hidden.expect("matched")["seat"] == "left"
    assert other.expect("matched")["seat"] == "right"


def test_actions_are_forwarded_and_foreign_seats_refused(serve):
    url, _ = serve()
    first, second, _, _ = pair(url)
    first.send(type="action", episode=0, step=3, agent="left", action=1)
    assert second.expect("action") == {"type": "action", "episode": 0, "step": 3, "agent": "left", "action": 1}
    second.send(type="action", episode=0, step=4, agent="left", action=0)
    assert "do not control seat 'left'" in second.expect("error")["message"]
    second.send(type="action", episode=0, step=4, agent="nobody", action=0)
    assert "not a seat of your group" in second.expect("error")["message"]
    second.send(type="action", episode=-1, step=4, agent="right", action=0)
    assert second.expect("error")["message"].startswith("action.episode")


def test_a_connection_must_join_with_its_session_token(serve):
    url, _ = serve()
    session_id, _ = create_session(url)
    stranger = RelayClient(url, (session_id, "0" * 64))
    assert "wrong session token" in stranger.expect("error")["message"]
    silent = RelayClient(url, (session_id, "x"), join=False)
    silent.send(type="hash", episode=0, step=1, hash="ab" * 8)
    assert "first message must be a join" in silent.expect("error")["message"]


def test_a_completed_session_s_token_no_longer_joins(serve):
    url, _ = serve()
    session_id, token = create_session(url)
    body = json.dumps({"schema": LOG_SCHEMA, "events": [{"seq": 1, "type": "completion", "t": 0}]}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(f"{url}/api/v1/sessions/{session_id}/events", body, headers)
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    client = RelayClient(url, (session_id, token))
    assert "has completed" in client.expect("error")["message"]


def wait_for_events(store, kind, count=1, timeout_s=10.0):
    """The relay events of `kind`, once there are at least `count` of them."""
    deadline = time.monotonic() + timeout_s
    while len(found := relay_events(store, kind)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} {kind!r} relay events after {timeout_s} s: {found}"
        time.sleep(0.02)
    return found


def desync_at_30(url, store):
    """A pair whose hashes for step 30 disagree; returns (reference client, repaired client, snapshot request)."""
    first, second, _, _ = pair(url)
    first.send(type="hash", episode=0, step=30, hash="aa" * 8)
    second.send(type="hash", episode=0, step=30, hash="bb" * 8)
    (desync,) = wait_for_events(store, "desync")
    reference, repaired = (first, second) if desync.data["reference"] == "left" else (second, first)
    assert desync.data["hashes"] == {"left": "aa" * 8, "right": "bb" * 8}
    assert desync.data["repairing"] == [{"left": "right", "right": "left"}[desync.data["reference"]]]
    request = reference.expect("snapshot_request")
    assert (request["episode"], request["step"], request["reason"]) == (0, 30, "desync")
    return reference, repaired, request


def test_mismatched_hashes_trigger_one_repair_from_the_drawn_reference_and_its_confirmation(serve):
    url, store = serve()
    reference, repaired, request = desync_at_30(url, store)
    repaired.send(type="hash", episode=0, step=33, hash="99" * 8)  # still unrepaired, sent while the repair is pending
    reference.send(
        type="snapshot", request_id=request["request_id"], episode=0, step=30, state="c3RhdGU=", returns={"left": 3.0}
    )
    state = repaired.expect("state")
    assert (state["state"], state["reason"]) == ("c3RhdGU=", "desync")
    (sent,) = wait_for_events(store, "state_sent")
    assert state["from"] == sent.data["from"] != sent.data["to"][0]
    reference.send(
        type="hash", episode=0, step=33, hash="88" * 8
    )  # the partner's hash for that step came before the repair
    # a hash the repaired browser took before the state reached it neither confirms nor disputes the repair
    reference.send(type="hash", episode=0, step=35, hash="cc" * 8)
    repaired.send(type="hash", episode=0, step=35, hash="dd" * 8)  # hashed before the state arrived
    reference.send(type="hash", episode=0, step=40, hash="ee" * 8)
    repaired.send(type="hash", episode=0, step=40, hash="ee" * 8, repairs=1)  # after it, in agreement: confirmed
    (confirmed,) = wait_for_events(store, "repair_confirmed")
    assert (confirmed.data["step"], confirmed.data["repair_step"]) == (40, [0, 30])
    # a later disagreement is a new desync, repaired from the same reference
    reference.send(type="hash", episode=0, step=45, hash="f1" * 8)
    repaired.send(type="hash", episode=0, step=45, hash="f2" * 8, repairs=1)
    assert reference.expect("snapshot_request")["step"] == 45
    assert [e.data["step"] for e in relay_events(store, "desync")] == [30, 45]


def test_a_repair_that_the_next_hashes_do_not_confirm_ends_the_group(serve):
    url, store = serve()
    reference, repaired, request = desync_at_30(url, store)
    reference.send(type="snapshot", request_id=request["request_id"], episode=0, step=30, state="eA==", returns={})
    repaired.expect("state")
    reference.send(type="hash", episode=0, step=45, hash="ee" * 8)
    repaired.send(type="hash", episode=0, step=45, hash="ff" * 8, repairs=1)  # it kept (or claims) another state
    assert reference.expect("end")["reason"] == repaired.expect("end")["reason"] == "desync_unresolved"
    (unconfirmed,) = wait_for_events(store, "repair_unconfirmed")
    assert unconfirmed.data["hashes"] == {"left": "ee" * 8, "right": "ff" * 8} or unconfirmed.data["hashes"] == {
        "left": "ff" * 8,
        "right": "ee" * 8,
    }
    assert len(relay_events(store, "desync")) == 1 and relay_events(store, "group_end")[0].data["reason"] == (
        "desync_unresolved"
    )


def test_matching_hashes_need_no_repair(serve):
    url, store = serve()
    first, second, _, _ = pair(url)
    for client in (first, second):
        client.send(type="hash", episode=0, step=30, hash="aa" * 8)
        client.send(type="action", episode=0, step=1, agent="nobody", action=0)
    for client in (first, second):  # each connection's messages are handled in order: its hash came first
        assert "not a seat of your group" in client.expect("error")["message"]
    assert not relay_events(store, "desync")
    assert not any(m["type"] == "snapshot_request" for m in first.seen + second.seen)


def test_waiting_too_long_ends_in_the_configured_timeout(serve):
    url, store = serve(wait_timeout_s=1, on_timeout="end", timeout_code="PARTIAL1")
    alone = RelayClient(url, create_session(url))
    timeout = alone.expect("timeout", timeout_s=5)
    assert (timeout["on_timeout"], timeout["code"]) == ("end", "PARTIAL1")
    (logged,) = relay_events(store, "wait_timeout")
    assert logged.data["session_id"] == alone.session_id and logged.data["waited_s"] >= 1


def test_a_dropped_seat_is_played_by_a_stand_in_until_its_player_rejoins(serve):
    url, store = serve(on_dropout="default_action")
    first, second, _, _ = pair(url)
    second.send(type="action", episode=0, step=5, agent="right", action=1)
    first.expect("action")
    second.close()
    seat = first.expect("seat")
    assert (seat["agent"], seat["controller"], seat["proxy"], seat["last_action"]) == (
        "right",
        "fallback",
        "left",
        [0, 5],
    )
    first.send(type="action", episode=0, step=6, agent="right", action=0)  # standing in: echoed back to the stand-in
    assert first.expect("action")["step"] == 6
    back = RelayClient(url, (second.session_id, second.token))
    assert back.expect("matched")["rejoin"] is True
    assert first.expect("seat")["controller"] == "human"
    request = first.expect("snapshot_request")
    assert (request["reason"], request["step"]) == ("rejoin", 6)
    first.send(type="action", episode=0, step=7, agent="right", action=0)  # crossed the hand-over: dropped
    first.send(type="snapshot", request_id=request["request_id"], episode=0, step=6, state="eA==", returns={})
    assert back.expect("state")["step"] == 6
    back.send(type="action", episode=0, step=7, agent="right", action=1)
    assert first.expect("action") == {"type": "action", "episode": 0, "step": 7, "agent": "right", "action": 1}
    kinds = [event.type for event in store.iter_relay_events()]
    assert kinds.index("dropout") < kinds.index("rejoin") < kinds.index("state_sent")


def test_after_the_grace_period_an_end_rule_ends_the_game_for_everyone(serve):
    url, store = serve(on_dropout="end", grace_s=1)
    first, second, _, _ = pair(url)
    second.close()
    assert first.expect("seat")["controller"] == "absent"
    assert first.expect("end", timeout_s=5)["reason"] == "partner_left"
    back = RelayClient(url, (second.session_id, second.token))
    assert back.expect("end")["reason"] == "group_ended"
    assert [e.type for e in store.iter_relay_events()][-2:] == ["group_end", "rejoin_refused"]


def test_after_the_grace_period_the_fallback_keeps_the_seat(serve):
    url, store = serve(on_dropout="ai", grace_s=1, fallbacks={"left": RandomPolicy(), "right": RandomPolicy()})
    first, second, _, _ = pair(url)
    second.close()
    first.expect("seat")
    assert first.expect("seat", timeout_s=5)["abandoned"] is True
    back = RelayClient(url, (second.session_id, second.token))
    assert back.expect("end")["reason"] == "seat_taken"
    assert relay_events(store, "seat_abandoned")[0].data["agent"] == "right"


def test_a_host_shutting_down_tells_relay_clients_to_reconnect(tmp_path):
    from gymcast.testing import HostProcess

    with HostProcess(relay_bundle(tmp_path / "bundle"), tmp_path / "logs.sqlite") as host:
        first, second, _, _ = pair(host.url)
        started = time.monotonic()
        host.stop()  # SIGTERM: gunicorn's graceful shutdown
    wait_until(lambda: first.closed is not None and second.closed is not None)
    assert time.monotonic() - started < 10
    assert {first.closed.rcvd.code, second.closed.rcvd.code} == {1012}  # "service restart": reconnect
