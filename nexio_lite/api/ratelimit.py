"""Per-key rate limiting (API.md §3): one token bucket per API key, in this process.

A bucket holds at most `capacity` tokens and gains `rate` tokens a second; a request
takes one token or is refused with the whole seconds until one is there (429
`rate_limited` with `Retry-After`). Buckets live in memory only: each process limits on
its own, and a restart forgets them (every key starts with a full bucket).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

import attrs

from nexio_lite.config import LimitSettings


@attrs.define
class _Bucket:
    tokens: float
    updated: float  # the clock's time when `tokens` was last brought up to date


@attrs.define
class RateLimiter:
    """Token buckets by key: `rate` tokens a second, at most `capacity`.

    Guarantees: a key that has been idle holds `capacity` tokens, so it may make
    `floor(capacity)` requests at once, then one per 1/`rate` seconds; `acquire` never
    blocks. Memory stays bounded by the keys seen within the last `capacity / rate`
    seconds: a bucket idle that long is full again, exactly like a new one, and is
    forgotten. `clock` is a monotonic clock in seconds (injected by tests)."""

    rate: float = attrs.field(validator=attrs.validators.gt(0))
    capacity: float = attrs.field(validator=attrs.validators.ge(1))
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, _Bucket] = attrs.field(factory=OrderedDict, init=False)

    @classmethod
    def from_settings(
        cls, limits: LimitSettings, clock: Callable[[], float] = time.monotonic
    ) -> RateLimiter | None:
        """The limiter `limits` ask for, or None when `requests_per_second_per_key` is 0
        (no limit). A `burst` of 0 means twice the rate, and never less than 1."""
        rate = limits.requests_per_second_per_key
        if rate <= 0:
            return None
        capacity = float(limits.burst) if limits.burst > 0 else max(1.0, 2.0 * rate)
        return cls(rate=rate, capacity=capacity, clock=clock)

    def acquire(self, key: str) -> int:
        """Take one token from `key`'s bucket: 0 when it was there (the request may go
        on), otherwise the whole seconds (at least 1) until the next token arrives."""
        now = self.clock()
        self._forget_idle(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self.capacity, now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        self._buckets[key] = bucket  # most recently used last
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def __len__(self) -> int:
        """How many keys have a bucket in memory."""
        return len(self._buckets)

    def _forget_idle(self, now: float) -> None:
        full_after = self.capacity / self.rate
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < full_after:
                return
            self._buckets.popitem(last=False)
