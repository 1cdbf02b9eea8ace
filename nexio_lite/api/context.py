"""What request handlers reach through `request.app`: one Services record."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import web

from nexio_lite.auth import KeyChecker
from nexio_lite.config import Settings
from nexio_lite.errors import ApiError
from nexio_lite.models import ApiKey, PoolVersion, now_ms
from nexio_lite.store.base import Store
from nexio_lite.waiters import JobWaiters


@attrs.define
class Services:
    settings: Settings
    store: Store
    keys: KeyChecker
    notify_workers: Callable[[], None] = lambda: None
    notify_deliveries: Callable[[], None] = lambda: None
    workers_running: Callable[[], bool] = lambda: False
    trace: Callable[..., Any] | None = None  # async (job, level) -> JSON text
    loop_worst_ms: Callable[[bool], float] = lambda reset: 0.0
    waiters: JobWaiters = attrs.field(factory=JobWaiters)
    # (org, pool) -> (expires at, monotonic; current version or None), see current_pool
    pools: dict[tuple[str, str], tuple[float, PoolVersion | None]] = attrs.field(factory=dict)

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
    """The caller's key, which must be active and carry `scope` (401 / 403 otherwise)."""
    presented = presented_key(request)
    key = None
    if presented is not None:
        key = await services(request).keys.check(presented, now_ms())
    if key is None:
        raise ApiError(401, "unauthorized", "Invalid or missing API key")
    if scope not in key.scopes:
        raise ApiError(403, "forbidden", f"This API key lacks the {scope} scope")
    return key
