"""`/healthz` and `/readyz` (API.md §9): no authentication."""

from __future__ import annotations

from aiohttp import web

from nexio_lite.api.context import services
from nexio_lite.api.responses import json_response


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and the workers run. Also reports the worst event
    loop stall since start, or since the last `?reset=loop` (a diagnostic for benchmarks)."""
    svc = services(request)
    database = await svc.store.ping()
    workers = svc.settings.workers.concurrency == 0 or svc.workers_running()
    ready = database and workers
    body = {
        "status": "ready" if ready else "not_ready",
        "database": database,
        "workers": workers,
        "loop_worst_stall_ms": round(svc.loop_worst_ms(request.query.get("reset") == "loop"), 2),
    }
    return json_response(body, status=200 if ready else 503)
