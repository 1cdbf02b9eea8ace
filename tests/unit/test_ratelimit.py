"""The per-key token bucket (API.md §3), driven by a fake clock."""

from __future__ import annotations

import attrs
import pytest

from nexio_lite.api.ratelimit import RateLimiter
from nexio_lite.config import LimitSettings


@attrs.define
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(rate: float, capacity: float) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate=rate, capacity=capacity, clock=clock), clock


def test_a_new_key_may_make_its_burst_at_once_then_waits() -> None:
    bucket, _ = limiter(rate=2, capacity=4)
    assert [bucket.acquire("k") for _ in range(4)] == [0, 0, 0, 0]
    assert bucket.acquire("k") == 1


def test_tokens_come_back_at_the_rate() -> None:
    bucket, clock = limiter(rate=2, capacity=4)
    for _ in range(4):
        bucket.acquire("k")
    clock.now += 0.25  # half a token
    assert bucket.acquire("k") == 1
    clock.now += 0.25  # the refused request took nothing: one token now
    assert bucket.acquire("k") == 0
    assert bucket.acquire("k") == 1


def test_an_idle_key_never_holds_more_than_its_burst() -> None:
    bucket, clock = limiter(rate=2, capacity=3)
    bucket.acquire("k")
    clock.now += 3600
    assert [bucket.acquire("k") for _ in range(4)] == [0, 0, 0, 1]


@pytest.mark.parametrize(
    ("rate", "missing_tokens", "retry_after"),
    [(0.1, 1, 10), (0.3, 1, 4), (10, 1, 1), (0.5, 0.5, 1)],
)
def test_retry_after_is_whole_seconds_until_the_next_token_and_at_least_1(
    rate: float, missing_tokens: float, retry_after: int
) -> None:
    bucket, clock = limiter(rate=rate, capacity=1)
    assert bucket.acquire("k") == 0
    clock.now += (1 - missing_tokens) / rate
    assert bucket.acquire("k") == retry_after


def test_keys_do_not_share_a_bucket() -> None:
    bucket, _ = limiter(rate=1, capacity=1)
    assert bucket.acquire("a") == 0
    assert bucket.acquire("a") == 1
    assert bucket.acquire("b") == 0


def test_a_clock_that_steps_back_gives_no_tokens() -> None:
    bucket, clock = limiter(rate=1, capacity=1)
    bucket.acquire("k")
    clock.now -= 100
    assert bucket.acquire("k") == 1


def test_idle_buckets_are_forgotten_so_memory_stays_bounded() -> None:
    bucket, clock = limiter(rate=10, capacity=20)  # full again after 2 s idle
    for i in range(10_000):
        bucket.acquire(f"key-{i}")
    assert len(bucket) == 10_000
    clock.now += 2.0
    bucket.acquire("latest")
    assert len(bucket) == 1


def test_a_key_in_use_is_kept_while_idle_ones_go() -> None:
    bucket, clock = limiter(rate=1, capacity=2)  # full again after 2 s idle
    bucket.acquire("idle")
    for _ in range(4):
        clock.now += 1.0
        assert bucket.acquire("busy") == 0
    assert len(bucket) == 1
    bucket.acquire("busy")
    assert bucket.acquire("busy") == 1  # its state was kept, not reset to a full bucket


def test_no_limiter_when_the_rate_is_0() -> None:
    assert RateLimiter.from_settings(LimitSettings()) is None
    assert RateLimiter.from_settings(LimitSettings(requests_per_second_per_key=0, burst=5)) is None


@pytest.mark.parametrize(
    ("rate", "burst", "capacity"), [(5, 0, 10), (5, 3, 3), (0.2, 0, 1), (0.75, 0, 1.5), (1, 1, 1)]
)
def test_burst_0_means_twice_the_rate_and_at_least_1(
    rate: float, burst: int, capacity: float
) -> None:
    built = RateLimiter.from_settings(LimitSettings(requests_per_second_per_key=rate, burst=burst))
    assert built is not None
    assert (built.rate, built.capacity) == (rate, capacity)
