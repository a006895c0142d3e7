"""Attacks on the relay, against a real host with real WebSocket clients (issue 15): floods, slow readers,
oversized and compressed messages, slow uplinks, and groups that are never freed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from werkzeug.serving import make_server
from wsproto.events import CloseConnection, Ping, Pong, TextMessage

from gymcast.relay import endpoint
from gymcast.relay.endpoint import LIMITS
from gymcast.relay.socket_loop import SocketLoop
from gymcast.server import create_app
from gymcast.storage import SQLiteEventStore
from raw_websocket import RawWebSocket
from relay_client import RelayClient, create_session
from test_relay import pair, relay_bundle, wait_until


@pytest.fixture
def host(tmp_path):
    """Start a host for a manifest with these multiplayer rules; yields (url, relay service)."""
    servers = []

    def start(**rules):
        app = create_app(relay_bundle(tmp_path / "bundle", **rules), SQLiteEventStore(tmp_path / "logs.sqlite"))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}", app.extensions["gymcast.relay"]

    yield start
    for server in servers:
        server.shutdown()


def raw_pair(url):
    """A raw client (left seat) and a RelayClient (right seat), matched."""
    raw = RawWebSocket(url, receive_buffer=4096)
    raw.join(create_session(url))
    raw.expect("waiting")
    other = RelayClient(url, create_session(url))
    raw.expect("matched")
    other.expect("matched")
    return raw, other


def flood(raw: RawWebSocket, frame: bytes, stop: threading.Event) -> threading.Thread:
    """Write `frame` over and over from a thread until `stop` (or the host drops the connection)."""

    def run():
        raw.sock.settimeout(30)
        while not stop.is_set():
            try:
                raw.sock.sendall(frame * 50)
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_client_that_floods_and_never_reads_stalls_no_one_elses_timers(host):
    url, service = host(wait_timeout_s=2, grace_s=1)
    first, second, _, _ = pair(url)
    flooder = RawWebSocket(url, receive_buffer=4096)
    flooder.join(create_session(url))
    stop = threading.Event()
    flood(flooder, b"\x81\x85abcd" + bytes(c ^ k for c, k in zip(b"{oops", b"abcdabcd")), stop)  # bad JSON: errors
    try:
        time.sleep(2)  # long enough for the error replies to fill every buffer on the way to the flooder
        alone = RelayClient(url, create_session(url))
        second.close()
        assert alone.expect("timeout", timeout_s=8)["waited_s"] >= 2, "the waiting room's timeout still fires"
        first.expect("seat")
        assert first.expect("seat", timeout_s=8)["abandoned"] is True, "grace periods still expire"
    finally:
        stop.set()
    flooder.close()
    wait_until(lambda: not service.relay.state.room("main").waiters, timeout_s=5)  # the flood's backlog is bounded


def test_a_ping_flood_is_answered_at_the_read_budget_s_pace_then_failed(host):
    """Each WebSocket ping costs the host a pong. A client that floods pings (and reads the pongs, so that its send
    buffer's cap never drops it) is read no faster than `messages_per_s`, so it gets no more pongs than that; once it
    has flooded for `flood_s`, the host fails it (1008) and its partner gets the fallback. (A flooder that never
    reads is dropped by the cap: test_a_slow_consumer_...)"""
    url, service = host()
    limits = service.limits
    flooder, partner = raw_pair(url)
    stop = threading.Event()
    ping = flooder.conn.send(Ping(payload=b"p" * 125))
    reader = flooder.sock.dup()  # its own timeout: the flood's writes keep theirs
    reader.settimeout(0.2)
    started = time.monotonic()
    thread = flood(flooder, ping, stop)
    pongs_in_3_s, close = 0, None
    try:
        while close is None and time.monotonic() - started < limits.flood_s + 10:
            with contextlib.suppress(TimeoutError):
                flooder.conn.receive_data(reader.recv(65536) or None)
            for event in flooder.conn.events():
                if isinstance(event, Pong) and time.monotonic() - started < 3:
                    pongs_in_3_s += 1
                close = event if isinstance(event, CloseConnection) else close
    finally:
        stop.set()
    failed_after_s = time.monotonic() - started
    with contextlib.suppress(OSError):
        flooder.sock.shutdown(socket.SHUT_RDWR)  # unblocks the flood's write
    thread.join(30)
    assert not thread.is_alive()
    one_read = limits.read_bytes // len(ping) + 1
    assert 0 < pongs_in_3_s <= limits.message_burst + limits.messages_per_s * 3 + one_read, pongs_in_3_s
    assert close is not None and close.code == 1008 and "messages" in close.reason, close
    assert limits.flood_s <= failed_after_s, failed_after_s
    seat = partner.expect("seat", timeout_s=10)
    assert (seat["agent"], seat["controller"]) == ("left", "fallback")
    (dropout,) = [event for event in service.store.iter_relay_events() if event.type == "dropout"]
    assert "messages" in dropout.data["reason"] and f"for {limits.flood_s:.0f} s" in dropout.data["reason"]


def test_error_replies_are_rate_limited(host):
    from gymcast.relay.endpoint import ERROR_BURST, ERRORS_PER_S  # imported here: the module runs against older code

    url, _ = host()
    first, second, _, _ = pair(url)
    started = time.monotonic()
    for _ in range(300):
        first.send(type="action", episode=0, step=1, agent="right", action=0)  # not its seat: refused
    first.send(type="action", episode=0, step=1, agent="left", action=0)
    second.expect("action")  # handled after the 300 refused ones

    def errors():
        return sum(message["type"] == "error" for message in first.seen)

    wait_until(lambda: errors() >= ERROR_BURST)
    assert errors() <= ERROR_BURST + ERRORS_PER_S * (time.monotonic() - started) + 1, f"{errors()} error replies"


def test_a_slow_consumer_is_disconnected_and_its_partner_gets_the_fallback(host, monkeypatch):
    # a 1 MiB send buffer: at the read budget's pace its sender would take about 12 s to fill the default 24 MiB
    monkeypatch.setattr(endpoint, "LIMITS", dataclasses.replace(LIMITS, outbound_bytes=1 << 20))
    url, service = host()
    reader_that_never_reads, sender = raw_pair(url)
    stop = threading.Event()
    sent = []

    def send_actions():
        for step in range(1, 100_000):
            if stop.is_set():
                return
            try:
                sender.send(type="action", episode=0, step=step, agent="right", action="x" * 4000)
            except Exception:
                return
            sent.append(step)

    threading.Thread(target=send_actions, daemon=True).start()
    try:
        seat = sender.expect("seat", timeout_s=10)  # well before its silence (15 s) would drop it anyway
    finally:
        stop.set()
    assert (seat["agent"], seat["controller"]) == ("left", "fallback")
    (dropout,) = [event for event in service.store.iter_relay_events() if event.type == "dropout"]
    assert "slow consumer" in dropout.data["reason"]


def test_an_oversized_message_closes_the_connection_and_the_partner_gets_the_fallback(host):
    url, service = host()
    oversized = json.dumps({"type": "hash", "pad": "x" * (9 * 1024 * 1024)})
    pairs = [pair(url)[:2] for _ in range(8)]  # simple-websocket's race hung only some of the handlers

    def send_oversized(first: RelayClient) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):  # the host refuses the frame from its header, mid-send
            first.ws.send(oversized)

    for first, _ in pairs:  # the client's send can outlast the test (the rest of its frame drains slowly)
        threading.Thread(target=send_oversized, args=(first,), daemon=True).start()
    for _, second in pairs:
        seat = second.expect("seat", timeout_s=10)
        assert (seat["agent"], seat["controller"]) == ("left", "fallback")
    dropouts = [event for event in service.store.iter_relay_events() if event.type == "dropout"]
    assert len(dropouts) == 8 and all("over" in event.data["reason"] for event in dropouts)


def _action(step: int, action=0) -> dict:
    return {"type": "action", "episode": 0, "step": step, "agent": "left", "action": action}


def test_a_partner_sending_faster_than_the_read_budget_is_read_at_its_pace_and_loses_nothing(host, caplog):
    url, service = host()
    limits = service.limits
    flooder, partner = raw_pair(url)
    burst, per_s = limits.message_burst, limits.messages_per_s
    count = burst + int(4 * per_s)  # read in about 4 s, well within `flood_s`
    frames = [flooder.frame(**_action(step)) for step in range(1, count + 1)]
    one_read = limits.read_bytes // min(len(frame) for frame in frames) + 1  # a read's frames are all handled
    flooder.sock.settimeout(60)
    started = time.monotonic()
    threading.Thread(target=flooder.sock.sendall, args=(b"".join(frames),), daemon=True).start()

    def forwarded() -> list[int]:
        return [message["step"] for message in list(partner.seen) if message["type"] == "action"]

    time.sleep(1.0)
    after_one_second = len(forwarded())
    wait_until(lambda: len(forwarded()) == count, timeout_s=30)
    took = time.monotonic() - started
    assert forwarded() == list(range(1, count + 1))  # every one, in order: read later, never dropped
    assert after_one_second <= burst + 1.5 * per_s + one_read < count, after_one_second  # all at once without it
    assert took >= 0.8 * (count - burst - 2 * one_read) / per_s, took
    assert [r for r in caplog.records if "it is read at that pace" in r.getMessage()], "the host says so in its log"


def test_frames_arrive_whole_and_in_order_however_the_client_cuts_them(host):
    """Written a byte at a time: two frames back to back (one with a 16-bit length), a message fragmented around
    a ping, then one more. The partner gets each action once, whole and in order; the ping gets its pong."""
    url, _ = host()
    raw, other = raw_pair(url)
    text = json.dumps(_action(3))
    data = (
        raw.frame(**_action(1))
        + raw.frame(**_action(2, list(range(60))))
        + raw.conn.send(TextMessage(data=text[:10], message_finished=False))
        + raw.conn.send(Ping(b"p"))
        + raw.conn.send(TextMessage(data=text[10:], message_finished=True))
        + raw.frame(**_action(4))
    )
    assert len(raw.frame(**_action(2, list(range(60))))) > 126  # the 16-bit length
    raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for at in range(len(data)):
        raw.sock.sendall(data[at : at + 1])
        if at % 7 == 0:
            time.sleep(0.002)
    received = [other.expect("action") for _ in range(4)]
    assert [message["step"] for message in received] == [1, 2, 3, 4]
    assert received[1]["action"] == list(range(60))
    deadline = time.monotonic() + 10
    while not raw.pongs and time.monotonic() < deadline:
        raw._pump(0.1)
    assert raw.pongs == [b"p"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes((0x81, 2)) + b"{}", 1002),  # a client's frame must be masked
        (bytes((0x81, 0x82)) + bytes(4) + b"\xff\xfe", 1007),  # text that is not UTF-8
        (bytes((0x83, 0x82)) + bytes(4) + b"{}", 1002),  # a reserved opcode
    ],
    ids=["unmasked", "not-utf8", "reserved-opcode"],
)
def test_a_malformed_frame_fails_the_connection_with_its_close_code(host, frame, code):
    url, _ = host()
    raw = RawWebSocket(url)
    raw.join(create_session(url))
    raw.expect("waiting")
    raw.sock.sendall(frame)
    assert raw.wait_closed(10) and raw.close_code == code


def test_compression_is_never_negotiated(host):
    url, _ = host()
    with connect(url.replace("http://", "ws://") + "/api/v1/relay", compression="deflate") as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
    raw = RawWebSocket(url, offer_deflate=True)
    assert raw.accepted is not None and raw.accepted.extensions == []
    raw.close()


def test_a_large_snapshot_on_a_slow_uplink_is_not_cut_off(host):
    """3 MB at about 250 KB/s takes 12 s; the client answers no WebSocket ping meanwhile (its pong would
    queue behind the snapshot), but the data it sends keeps it alive."""
    url, _ = host(grace_s=60)
    raw, other = raw_pair(url)
    other.close()
    raw.expect("seat")
    back = RelayClient(url, (other.session_id, other.token))
    request = raw.expect("snapshot_request")
    frame = raw.frame(
        type="snapshot",
        request_id=request["request_id"],
        episode=request["episode"],
        step=request["step"],
        state="A" * (3 * 1024 * 1024),
        returns={},
    )
    started = time.monotonic()
    for start in range(0, len(frame), 25_000):
        raw.sock.sendall(frame[start : start + 25_000])
        time.sleep(0.1)
    assert time.monotonic() - started > 11
    state = back.expect("state", timeout_s=15)
    assert len(state["state"]) == 3 * 1024 * 1024


def test_ended_groups_are_freed(host):
    url, service = host()
    first, second, _, _ = pair(url)
    assert len(service.relay.state.groups()) == 1
    first.send(type="finished")
    second.send(type="finished")
    assert first.expect("end")["reason"] == "finished"
    wait_until(lambda: not service.relay.state.groups())
    back = RelayClient(url, (first.session_id, first.token))
    assert back.expect("end")["reason"] == "group_ended"


def _open_descriptors() -> set[tuple[str, str]]:
    """This process's open descriptors as (number, what it points at): a socket's or an epoll's inode is unique,
    so a number reused meanwhile by another thread's file does not count as the same descriptor."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed while listed
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
    return found


def test_a_stopped_socket_loop_closes_its_descriptors():
    """Tests start many hosts in one process: each stopped relay loop gives back its epoll and wake-up sockets.
    (Other tests' hosts may open and close descriptors meanwhile, so the loops' own are compared, not counts.)"""
    before = _open_descriptors()
    loops = [SocketLoop() for _ in range(20)]
    opened = _open_descriptors() - before
    assert len(opened) >= 20 * 3
    for loop in loops:
        loop.stop()
    assert not opened & _open_descriptors()


def test_a_connection_after_the_relay_stopped_is_closed_at_once(host):
    """A browser that connects while the host's relay is stopping is dropped at once, not left waiting for its join timeout."""
    url, service = host()
    service.stop()
    session = create_session(url)
    started = time.monotonic()
    with pytest.raises((ConnectionClosed, AssertionError)) as closed:  # the join's send, or the wait for an answer
        RelayClient(url, session).expect("waiting", timeout_s=5)
    assert isinstance(closed.value, ConnectionClosed) or "the connection closed" in str(closed.value)
    assert time.monotonic() - started < 3
