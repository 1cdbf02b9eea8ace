"""Per-key rate limiting through a real app (API.md §3): 429 `rate_limited` with
Retry-After once a key has spent its burst, success again after the refill, and one
bucket per key, shared by every endpoint the key calls."""

from __future__ import annotations

import attrs

from nexio_lite.api.context import SERVICES
from nexio_lite.api.ratelimit import RateLimiter

from .conftest import World, WorldFactory
from .test_submit import error_of

LIMITS = {"requests_per_second_per_key": 0.5, "burst": 3}


@attrs.define
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


async def limited_world(make_world: WorldFactory) -> tuple[World, FakeClock]:
    """A world whose limiter is the one the settings build, on a clock the test moves."""
    world = await make_world(limits=LIMITS)
    limiter = world.client.app[SERVICES].limiter
    assert isinstance(limiter, RateLimiter)
    assert (limiter.rate, limiter.capacity) == (0.5, 3)
    clock = FakeClock()
    limiter.clock = clock
    return world, clock


async def test_a_key_over_its_burst_gets_429_with_retry_after(make_world: WorldFactory) -> None:
    world, _ = await limited_world(make_world)
    for _ in range(3):
        assert (await world.client.get("/api/v1/pools", headers=world.headers())).status == 200
    resp = await world.client.get("/api/v1/pools", headers=world.headers())
    err = await error_of(resp, 429)
    assert err["code"] == "rate_limited"
    assert err["details"] == []
    assert resp.headers["Retry-After"] == "2"  # one token every 2 s


async def test_the_key_succeeds_again_once_its_bucket_refills(make_world: WorldFactory) -> None:
    world, clock = await limited_world(make_world)
    for _ in range(3):
        await world.client.get("/api/v1/pools", headers=world.headers())
    assert (await world.client.get("/api/v1/pools", headers=world.headers())).status == 429
    clock.now += 1.0
    resp = await world.client.get("/api/v1/pools", headers=world.headers())
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "1"
    clock.now += 1.0
    assert (await world.client.get("/api/v1/pools", headers=world.headers())).status == 200
    assert (await world.client.get("/api/v1/pools", headers=world.headers())).status == 429


async def test_another_key_is_not_limited(make_world: WorldFactory) -> None:
    world, _ = await limited_world(make_world)
    for _ in range(4):
        await world.client.get("/api/v1/pools", headers=world.headers("full"))
    assert (await world.client.get("/api/v1/pools", headers=world.headers("full"))).status == 429
    for _ in range(3):
        resp = await world.client.get("/api/v1/pools", headers=world.headers("reader"))
        assert resp.status == 200
    other = {"X-API-Key": world.other_org_key}
    assert (await world.client.get("/api/v1/pools", headers=other)).status == 200


async def test_every_authenticated_endpoint_counts_against_the_one_bucket(
    make_world: WorldFactory,
) -> None:
    world, _ = await limited_world(make_world)
    assert (await world.submit()).status == 202
    assert (await world.client.get("/api/v1/jobs", headers=world.headers())).status == 200
    resp = await world.client.get("/traces/eval_0123456789abcdefgh", headers=world.headers())
    assert resp.status == 404
    for path in ("/traces/eval_0123456789abcdefgh", "/api/v1/jobs/eval_0123456789abcdefgh"):
        err = await error_of(await world.client.get(path, headers=world.headers()), 429)
        assert err["code"] == "rate_limited"
    err = await error_of(await world.submit(), 429)
    assert err["code"] == "rate_limited"


async def test_unauthenticated_requests_are_401_and_hold_no_bucket(
    make_world: WorldFactory,
) -> None:
    world, _ = await limited_world(make_world)
    for i in range(10):
        resp = await world.client.get("/api/v1/pools", headers={"X-API-Key": f"nx_live_{i}"})
        assert resp.status == 401
    limiter = world.client.app[SERVICES].limiter
    assert limiter is not None
    assert len(limiter) == 0
    assert (await world.client.get("/healthz")).status == 200


async def test_without_the_setting_no_key_is_ever_limited(world: World) -> None:
    assert world.client.app[SERVICES].limiter is None
    for _ in range(30):
        assert (await world.client.get("/api/v1/pools", headers=world.headers())).status == 200
