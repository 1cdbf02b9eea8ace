"""`/healthz`, `/readyz` and `/metrics` (API.md §9): no authentication."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nexio_lite.api.context import services
from nexio_lite.api.responses import json_response, query_values
from nexio_lite.errors import StoreError
from nexio_lite.fields import Choice, Query
from nexio_lite.metrics import CONTENT_TYPE, Metrics
from nexio_lite.store.base import Store

READY_QUERY = (
    Query("reset", Choice(("loop",)), "`loop` restarts the worst event-loop stall measurement."),
)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and every background loop of the process has
    completed a round within its expected period; otherwise 503 naming each failing
    check and why. Also reports the worst event-loop stall since start, or since the
    last `?reset=loop` (a diagnostic for benchmarks)."""
    svc = services(request)
    reset = query_values(request, READY_QUERY)["reset"] == "loop"
    checks: dict[str, dict[str, Any]] = {"database": await _database(svc.store)}
    checks.update(svc.checks())
    ready = all(check["ok"] for check in checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "loop_worst_stall_ms": round(svc.loop_worst_ms(reset), 2),
    }
    return json_response(body, status=200 if ready else 503)


async def _database(store: Store) -> dict[str, Any]:
    try:
        problem = await store.problem()
    except StoreError as exc:
        problem = str(exc)
    return {"ok": True} if problem is None else {"ok": False, "error": problem}


async def metrics(request: web.Request) -> web.Response:
    """Every metric family in the Prometheus text format; the queue gauges are read from
    the database first (at most once a second). Routed only when `metrics.enabled`."""
    svc = services(request)
    recorder = svc.metrics
    assert isinstance(recorder, Metrics)
    await recorder.refresh_queue(svc.store)
    return web.Response(body=recorder.render(), headers={"Content-Type": CONTENT_TYPE})
