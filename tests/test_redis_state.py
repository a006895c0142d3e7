"""The relay's Redis state on a real redis-server: what the timers read."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import redis

from gymcast.relay.group import Group, Seat
from gymcast.relay.redis_state import RedisRelayState, Transaction
from gymcast.relay.rules import GameRules


def test_a_deadline_whose_group_expired_is_dropped_and_a_live_one_is_due(redis_url):
    client = redis.Redis.from_url(redis_url)
    prefix = "gymcast:test:"
    holder = SimpleNamespace(redis=client, prefix=prefix)  # what the state reads of its switchboard
    state = RedisRelayState(holder, {}, choose=lambda options: options[0])  # type: ignore[arg-type]
    client.set(f"{prefix}group:live", "{}")
    client.zadd(f"{prefix}deadlines", {"live": 10.0, "expired": 20.0, "later": 99.0})
    assert state.due_groups(50.0) == ["live"]
    assert client.zrange(f"{prefix}deadlines", 0, -1) == [b"live", b"later"]
    assert state.due_groups(50.0) == ["live"]


def test_a_commit_fails_when_a_key_it_read_changed_and_a_read_only_transaction_leaves_no_watch(redis_url):
    client = redis.Redis.from_url(redis_url)
    solo = redis.Redis.from_url(redis_url, max_connections=1)  # every transaction gets the same connection
    client.set("k", "first")
    with Transaction(solo) as transaction:
        assert transaction.read("k") == b"first"
        client.set("k", "another process")
        transaction.write("SET", "k", "mine")
        with pytest.raises(redis.WatchError):
            transaction.commit()
    assert client.get("k") == b"another process"
    with Transaction(solo) as transaction:
        transaction.read("k")  # read only: nothing to commit, and its WATCH must not outlive it
    client.set("k", "changed later")
    with Transaction(solo) as transaction:
        transaction.write("SET", "k", "mine")
        transaction.commit()
    assert client.get("k") == b"mine"


def test_a_session_seated_in_a_new_group_is_found_there_though_its_old_seat_was_remembered(redis_url):
    client = redis.Redis.from_url(redis_url)
    prefix = "gymcast:seats:"
    holder = SimpleNamespace(redis=client, prefix=prefix, peer=lambda address: SimpleNamespace(address=address))
    rules = GameRules("main", ("left", "right"), 30, 5, 30, "end", "", "", 10, "end", 15, None)
    state = RedisRelayState(holder, {"main": rules}, choose=lambda options: options[0])  # type: ignore[arg-type]

    def group(group_id: str, left: str, right: str) -> Group:
        seats = {"left": Seat("left", left, None), "right": Seat("right", right, None)}
        return Group(group_id, rules, seats, seed=1, input_delay=0, reference="left")

    state.run(lambda view: view.add_group(group("first", "s1", "s2")))
    assert state.run(lambda view: view.seat_of("s1"))[0].group_id == "first"  # type: ignore[index]
    assert state.seats["s1"] == ("first", "left")  # remembered: the seat key is not read again
    other = RedisRelayState(holder, {"main": rules}, choose=lambda options: options[0])  # type: ignore[arg-type]
    other.run(lambda view: view.free_group(view.group("first"), 1.0))  # type: ignore[arg-type]  # another process
    client.delete(f"{prefix}ended:s1")  # long after: the ended seat has expired
    other.run(lambda view: view.add_group(group("second", "s3", "s1")))
    assert state.seats["s1"] == ("first", "left")  # this process still remembers the old seat
    found = state.run(lambda view: view.seat_of("s1"))
    assert found is not None and (found[0].group_id, found[1].agent) == ("second", "right")


def test_an_operation_that_read_several_keys_and_wrote_none_still_fails_when_one_changed(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set("a", "1")
    with Transaction(client) as transaction:
        transaction.read("a")
        transaction.read("b")
        client.set("a", "2")  # what the operation read was not one state
        with pytest.raises(redis.WatchError):
            transaction.commit()
    with Transaction(client) as transaction:
        transaction.read("a")
        client.set("a", "3")  # one key read: its value was a state, whatever happened after
        transaction.commit()
