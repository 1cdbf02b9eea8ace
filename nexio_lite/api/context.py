"""What request handlers reach through `request.app`: one Services record."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from aiohttp import web

from nexio_lite.api.ratelimit import RateLimiter
from nexio_lite.auth import KeyChecker
from nexio_lite.config import Settings
from nexio_lite.errors import ApiError
from nexio_lite.metrics import NO_METRICS, Recorder
from nexio_lite.models import ApiKey, PoolVersion, now_ms
from nexio_lite.store.base import Store
from nexio_lite.waiters import JobWaiters


@attrs.define
class Services:
    settings: Settings
    store: Store
    keys: KeyChecker
    # name -> the /readyz check of each background part (loops, scoring processes):
    # a JSON object with `ok` and, when not ok, `error`
    checks: Callable[[], Mapping[str, dict[str, Any]]] = dict
    trace: Callable[..., Any] | None = None  # async (job, str | TracePage) -> bytes
    loop_worst_ms: Callable[[bool], float] = lambda reset: 0.0
    waiters: JobWaiters = attrs.field(factory=JobWaiters)
    metrics: Recorder = NO_METRICS  # `Metrics` when `metrics.enabled`
    # (org, pool) -> (expires at, monotonic; current version or None), see current_pool
    pools: dict[tuple[str, str], tuple[float, PoolVersion | None]] = attrs.field(factory=dict)
    # per-key token buckets (API.md §3); None when `limits.requests_per_second_per_key` is 0
    limiter: RateLimiter | None = attrs.field(
        default=attrs.Factory(lambda self: RateLimiter.from_settings(self.settings.limits),
                              takes_self=True)
    )  # fmt: skip

    async def current_pool(self, org_id: str, pool_id: str) -> PoolVersion | None:
        """The pool version new jobs are scored against, cached for `POOL_CACHE_SECONDS`
        (a pool re-imported with the CLI is used within that time)."""
        key = (org_id, pool_id)
        cached = self.pools.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        pool = await self.store.current_pool(org_id, pool_id)
        if len(self.pools) > 10_000:
            self.pools.clear()
        self.pools[key] = (now + POOL_CACHE_SECONDS, pool)
        return pool


SERVICES = web.AppKey("services", Services)
# The organization of the request being answered, once its key is accepted (the
# middleware sets it to None at the start of each request and logs it at the end).
REQUEST_ORG: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_org", default=None
)
POOL_CACHE_SECONDS = 2.0


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def presented_key(request: web.Request) -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def authorize(request: web.Request, scope: str) -> ApiKey:
    """The caller's key, which must be active (401), within its request rate (429, when
    `limits.requests_per_second_per_key` > 0) and carry `scope` (403). Every request of a
    valid key counts against its rate, whatever its scope."""
    svc = services(request)
    presented = presented_key(request)
    key = None
    if presented is not None:
        key = await svc.keys.check(presented, now_ms())
    if key is None:
        raise ApiError(401, "unauthorized", "Invalid or missing API key")
    REQUEST_ORG.set(key.org_id)
    if svc.limiter is not None:
        _check_rate(svc.limiter, key)
    if scope not in key.scopes:
        raise ApiError(403, "forbidden", f"This API key lacks the {scope} scope")
    return key


def _check_rate(limiter: RateLimiter, key: ApiKey) -> None:
    wait = limiter.acquire(key.id)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests for this API key: at most {limiter.rate:g} a second; "
            f"retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
