"""The route table: every HTTP operation of the API, once, with its handler and its
OpenAPI description. `app.py` registers the handlers from it and `/openapi.json` is
built from it, so nothing is served undescribed or described unserved. The create route
of each packaged job type (`jobtypes.packaged()`) is made from its declaration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from nexio_lite import jobtypes
from nexio_lite.api import (
    deliveries,
    jobs,
    maintenance,
    openapi,
    operations,
    ops,
    packaged,
    rulebooks,
    screen,
    traces,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class Route:
    """`method path` answered by `handler`, described by `operation()`. `everywhere`
    routes are served by every role (a worker's port serves only those)."""

    method: str
    path: str
    handler: Handler
    operation: Callable[[], dict[str, Any]]
    everywhere: bool = False


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/v1/jobs", jobs.submit_job, operations.submit_job_op),
    Route("POST", screen.PATH, screen.submit_screen, operations.submit_screen_op),
    Route("GET", "/api/v1/jobs", jobs.list_jobs, operations.list_jobs_op),
    Route("GET", "/api/v1/jobs/{job_id}", jobs.get_job, operations.get_job_op),
    Route("GET", "/api/v1/jobs/{job_id}/deliveries", deliveries.list_deliveries,
          operations.list_deliveries_op),
    Route("POST", "/api/v1/jobs/{job_id}/deliveries/redeliver", deliveries.redeliver,
          operations.redeliver_op),
    Route("POST", "/api/v1/maintenance/jobs", maintenance.submit_maintenance,
          operations.create_maintenance_job_op),
    Route("GET", "/api/v1/pools", maintenance.list_pools, operations.list_pools_op),
    Route("GET", "/api/v1/rulebooks", rulebooks.list_rulebooks, operations.list_rulebooks_op),
    Route("GET", "/traces/{eval_id}", traces.get_trace, operations.get_trace_op),
    Route("GET", "/openapi.json", openapi.openapi_json, operations.openapi_op),
    Route("GET", "/healthz", ops.healthz, operations.health_op, everywhere=True),
    Route("GET", "/readyz", ops.readyz, operations.readiness_op, everywhere=True),
    Route("GET", "/metrics", ops.metrics, operations.metrics_op, everywhere=True),
)  # fmt: skip


def routes() -> tuple[Route, ...]:
    """`ROUTES` and the create route of every packaged job type registered now."""
    made = tuple(
        Route(t.method, t.path, packaged.create_handler(t),
              lambda t=t: operations.submit_package_op(t))  # type: ignore[misc]
        for t in jobtypes.packaged()
    )  # fmt: skip
    return ROUTES[:2] + made + ROUTES[2:]


def served(role: str, metrics_enabled: bool) -> tuple[Route, ...]:
    """The routes a process of `role` serves (`/metrics` only when metrics are on)."""
    return tuple(
        r
        for r in routes()
        if (role != "worker" or r.everywhere) and (metrics_enabled or r.path != "/metrics")
    )


def register(app: web.Application, routes: tuple[Route, ...]) -> None:
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)


def paths() -> dict[str, dict[str, Any]]:
    """The `paths` object of the OpenAPI document."""
    out: dict[str, dict[str, Any]] = {}
    for route in routes():
        out.setdefault(route.path, {})[route.method.lower()] = route.operation()
    return out
