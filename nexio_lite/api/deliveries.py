"""Webhook delivery history and redelivery (API.md §6)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nexio_lite.api.context import authorize, services
from nexio_lite.api.jobs import JOB_ID
from nexio_lite.api.responses import json_response, not_found
from nexio_lite.errors import ApiError, Conflict, NotFound
from nexio_lite.logs import get_logger
from nexio_lite.models import Delivery, iso_ms, now_ms

log = get_logger("nexio_lite.api")


def delivery_body(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "url": d.url,
        "status": d.status.value,
        "created_at": iso_ms(d.created_at),
        "attempts": [
            {
                "at": iso_ms(a.at),
                "status_code": a.status_code,
                "error": a.error,
                "latency_ms": a.latency_ms,
                "response_excerpt": a.response_excerpt,
            }
            for a in d.history
        ],
    }


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        raise not_found(f"Job '{job_id}' not found")
    return job_id


async def list_deliveries(request: web.Request) -> web.Response:
    svc = services(request)
    key = await authorize(request, "jobs:read")
    job_id = _job_id(request)
    if await svc.store.get_job(key.org_id, job_id) is None:
        raise not_found(f"Job '{job_id}' not found")
    deliveries = await svc.store.list_deliveries(key.org_id, job_id)
    return json_response({"data": [delivery_body(d) for d in deliveries]})


async def redeliver(request: web.Request) -> web.Response:
    svc = services(request)
    key = await authorize(request, "jobs:write")
    job_id = _job_id(request)
    try:
        delivery = await svc.store.add_delivery(key.org_id, job_id, now_ms())
    except NotFound as exc:
        raise not_found(str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    log.info("webhook_redelivery_queued", job_id=job_id, delivery_id=delivery.id)
    return json_response({"delivery_id": delivery.id, "status": delivery.status.value}, 202)
