"""`POST /api/v1/maintenance/jobs` (API.md §7) and `GET /api/v1/pools` (§9)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nexio_lite.api.body import read_json_object
from nexio_lite.api.context import authorize, services
from nexio_lite.api.responses import bad_request, json_response
from nexio_lite.logs import get_logger
from nexio_lite.maintenance import new_maintenance_job
from nexio_lite.models import DECAY_SWEEP, METRICS, now_ms

log = get_logger("nexio_lite.api")

FIELDS = ("job_type", "dry_run", "older_than_days")


def _details(body: dict[str, Any]) -> list[dict[str, str]]:
    details = [
        {"field": k, "code": "unknown_field", "message": f"{k} is not a recognized field"}
        for k in body
        if k not in FIELDS
    ]
    job_type = body.get("job_type")
    if job_type is None:
        details.append({"field": "job_type", "code": "required",
                        "message": "job_type is required"})  # fmt: skip
    elif job_type not in (DECAY_SWEEP, METRICS):
        details.append({"field": "job_type", "code": "enum",
                        "message": "job_type must be one of: decay_sweep, metrics"})  # fmt: skip
    dry_run = body.get("dry_run")
    if dry_run is not None and not isinstance(dry_run, bool):
        details.append({"field": "dry_run", "code": "type",
                        "message": "dry_run must be a boolean"})  # fmt: skip
    days = body.get("older_than_days")
    if days is not None:
        if not isinstance(days, int) or isinstance(days, bool):
            details.append({"field": "older_than_days", "code": "type",
                            "message": "older_than_days must be an integer"})  # fmt: skip
        elif not 0 <= days <= 36500:
            details.append({"field": "older_than_days", "code": "range",
                            "message": "older_than_days must be between 0 and 36500"})  # fmt: skip
    return sorted(details, key=lambda d: (d["field"], d["code"]))


async def submit_maintenance(request: web.Request) -> web.Response:
    svc = services(request)
    key = await authorize(request, "admin")
    body = await read_json_object(request, svc.settings.server.max_body_bytes)
    details = _details(body)
    if details:
        first = details[0]
        message = (
            f"Missing required field: {first['field']}"
            if first["code"] == "required"
            else first["message"]
        )
        raise bad_request(message, details)
    job = new_maintenance_job(key.org_id, body["job_type"], bool(body.get("dry_run", False)),
                              body.get("older_than_days"), now_ms())  # fmt: skip
    await svc.store.enqueue(job)
    svc.metrics.job_submitted(job.type)
    log.info("job_submitted", job_id=job.id, org_id=key.org_id, type=job.type)
    return json_response(
        {"id": job.id, "type": job.type, "status": "queued"},
        status=202,
        headers={"Location": f"/api/v1/jobs/{job.id}"},
    )


async def list_pools(request: web.Request) -> web.Response:
    svc = services(request)
    key = await authorize(request, "jobs:read")
    pools = await svc.store.list_pools(key.org_id)
    data = [
        {"pool": p.pool_id, "size": p.size, "version": p.version, "as_of": p.as_of,
         "sha256": p.sha256}
        for p in pools
    ]  # fmt: skip
    return json_response({"data": data})
