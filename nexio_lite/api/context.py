"""What request handlers reach through `request.app`: one Services record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import web

from nexio_lite.auth import KeyChecker
from nexio_lite.config import Settings
from nexio_lite.errors import ApiError
from nexio_lite.models import ApiKey, now_ms
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


SERVICES = web.AppKey("services", Services)


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
