"""Rate limits and byte quotas for the log API: token buckets behind a small interface.

The default `MemoryBuckets` keeps the buckets in this process; with `--redis`, `shared_limits.RedisBuckets`
keeps them in Redis, shared by every worker process and host.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rate:
    """A token bucket: up to `burst` at once, refilled at `per_s` per second."""

    burst: float
    per_s: float


@dataclass(frozen=True)
class Limits:
    """The host's limits. Costs are requests, or bytes for the `*_bytes` quotas."""

    sessions_per_ip: Rate = Rate(burst=60, per_s=0.5)
    requests_per_ip: Rate = Rate(burst=600, per_s=100)
    requests_per_session: Rate = Rate(burst=300, per_s=50)
    bytes_per_session: Rate = Rate(burst=32 * 1024 * 1024, per_s=256 * 1024)
    bytes_per_ip: Rate = Rate(burst=64 * 1024 * 1024, per_s=2 * 1024 * 1024)


#: No limits at all (load tests on loopback).
UNLIMITED = None


class Buckets(Protocol):
    """Where token buckets live."""

    def take(self, key: str, cost: float, rate: Rate) -> float:
        """Take `cost` tokens from bucket `key`; 0.0 when taken, else the seconds until they would be there."""


class MemoryBuckets:
    """Token buckets in this process's memory, at most `capacity` keys (the least recently used go first)."""

    def __init__(self, capacity: int = 100_000, clock=time.monotonic) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity
        self._clock = clock

    def take(self, key: str, cost: float, rate: Rate) -> float:
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.pop(key, (rate.burst, now))
            tokens = min(rate.burst, tokens + (now - stamp) * rate.per_s)
            wait = 0.0 if tokens >= cost else (min(cost, rate.burst) - tokens) / rate.per_s
            if not wait:
                tokens -= cost
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._capacity:
                self._buckets.popitem(last=False)
        return wait
