"""Messages between host processes through a real redis-server: delivered in order across a Redis restart, and
a message that no process hears becomes a close of its connection (its browser reconnects and rejoins)."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlparse

import redis

from gymcast.relay.switchboard import RETRY_S, Switchboard
from gymcast.servers import redis_server
from gymcast.testing import free_port


class Recorder:
    """A connection held by a process: what it was sent, and whether it was closed."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.closed = threading.Event()

    def deliver(self, text: str, rate_limited: bool) -> None:
        self.texts.append(text)

    def close(self) -> None:
        self.closed.set()


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout_s} s for {what}"
        time.sleep(0.05)


def test_a_message_sent_while_redis_restarts_arrives_in_order_and_the_receiver_is_told_to_reconnect():
    first = redis_server()
    url = first.__enter__()
    port = urlparse(url).port
    reconnects: list[str] = []
    sender = Switchboard(redis.Redis.from_url(url), "t:", lambda why: None)
    receiver = Switchboard(redis.Redis.from_url(url), "t:", reconnects.append)
    second = None
    try:
        connection = Recorder()
        address = receiver.attach(connection, "session").address
        time.sleep(0.3)  # the receiver's subscription is up
        sender.deliver(address, "before", False)
        _wait(lambda: connection.texts == ["before"], 5, "the first message")

        first.__exit__(None, None, None)  # Redis goes away: the publish fails
        sender.deliver(address, "during", False)
        assert connection.texts == ["before"]
        second = redis_server(port)
        second.__enter__()  # back on the same port, empty
        sender.deliver(address, "after", False)  # waits behind the unsent one, for its process

        _wait(lambda: connection.texts == ["before", "during", "after"], 15, "the messages sent during the restart")
        _wait(lambda: reconnects, 10, "the receiver's connections to be told to reconnect")
        assert "missed messages" in reconnects[0]
    finally:
        sender.stop()
        receiver.stop()
        if second is not None:
            second.__exit__(None, None, None)


def test_a_message_no_process_hears_becomes_a_close_of_its_connection():
    with redis_server() as url:
        sender = Switchboard(redis.Redis.from_url(url), "t:", lambda why: None)
        try:
            sender.deliver("gone.7", '{"type":"action"}', False)  # process "gone" is not listening
            started = time.monotonic()
            _wait(lambda: any(message.text is None for message in sender._unsent), RETRY_S + 5, "the give-up")
            assert time.monotonic() - started >= RETRY_S
            listener = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
            listener.subscribe("t:process:gone")
            deadline = time.monotonic() + RETRY_S
            envelope = None
            while envelope is None and time.monotonic() < deadline:
                message = listener.get_message(timeout=0.2)
                envelope = json.loads(message["data"]) if message else None
            assert envelope == {"to": "gone.7", "text": None, "limited": False}  # a close, not the action
        finally:
            sender.stop()


def test_a_close_waits_while_the_sender_cannot_reach_redis_and_is_delivered_once_it_can():
    with redis_server() as url:
        receiver_closes: list[str] = []
        receiver = Switchboard(redis.Redis.from_url(url), "t:", receiver_closes.append)
        sender = Switchboard(redis.Redis.from_url(url), "t:", lambda why: None)
        try:
            connection = Recorder()
            address = receiver.attach(connection, "session").address
            reachable = sender.redis
            sender.redis = redis.Redis(port=free_port(), socket_connect_timeout=0.2)  # only the sender is cut off
            sender.deliver(address, '{"type":"action"}', False)
            # past RETRY_S the action becomes a close; with no answer from Redis that close is kept, however long
            _wait(lambda: any(message.text is None for message in sender._unsent), RETRY_S + 5, "the give-up")
            time.sleep(RETRY_S + 1.5)  # longer than a close Redis answered nobody heard would be kept
            sender.redis = reachable
            assert connection.closed.wait(5), "the receiver's connection was never closed"
            assert connection.texts == [] and receiver_closes == []
        finally:
            sender.stop()
            receiver.stop()
