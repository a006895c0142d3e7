"""The relay's Redis state on a real redis-server: what the timers read."""

from __future__ import annotations

from types import SimpleNamespace

import redis

from gymcast.relay.redis_state import RedisRelayState


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
