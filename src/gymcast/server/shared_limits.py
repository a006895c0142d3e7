"""Token buckets in Redis, shared by every worker process and host that uses it (`gymcast serve --redis`).

Without them each worker counts on its own, so N workers (or N hosts behind a balancer) would let one address
send N times the limits. Each `take` is one atomic Lua script on Redis's clock (no two hosts' clocks are
compared). While Redis does not answer, the process's own buckets stand in (logged), so the limits loosen to
per-process ones for that while rather than failing every request.
"""

from __future__ import annotations

import logging
import time

import redis

from gymcast.server.limits import MemoryBuckets, Rate

log = logging.getLogger("gymcast.limits")

KEY_PREFIX = "gymcast:limits:"
"""Where the buckets live in Redis: per address or session, for every host sharing the Redis."""
WARN_EVERY_S = 10.0
CONNECTIONS = 16
"""Connections to Redis one process opens at most for its checks; a request that finds none free within the
timeout counts on the process's own buckets, as when Redis does not answer."""

_TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local cost, burst, per_s = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(stored[1]) or burst
local at = tonumber(stored[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * per_s)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (math.min(cost, burst) - tokens) / per_s
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / per_s * 1000) + 1000)
return tostring(wait)
"""
"""Take `cost` from bucket KEYS[1] (ARGV: cost, burst, per second); the seconds to wait, 0 when taken. A bucket
expires once it would be full again, which is the same as no bucket."""


class RedisBuckets:
    """`Buckets` in the Redis at `url`, falling back to this process's memory while Redis does not answer."""

    def __init__(self, url: str, timeout_s: float = 1.0) -> None:
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=CONNECTIONS,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        self._redis = redis.Redis(connection_pool=pool)
        self._take = self._redis.register_script(_TAKE)
        self._fallback = MemoryBuckets()
        self._warned_at = -WARN_EVERY_S

    def take(self, key: str, cost: float, rate: Rate) -> float:
        try:
            wait = self._take(keys=[KEY_PREFIX + key], args=[cost, rate.burst, rate.per_s])
        except redis.RedisError as error:
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning("rate limits: Redis does not answer (%r); this process counts on its own meanwhile", error)
            return self._fallback.take(key, cost, rate)
        return float(wait)
