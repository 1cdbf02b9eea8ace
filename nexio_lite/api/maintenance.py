"""`POST /api/v1/maintenance/jobs` (API.md §7) and `GET /api/v1/pools` (§9)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nexio_lite.api.body import read_json_object
from nexio_lite.api.context import authorize, services
from nexio_lite.api.responses import bad_request, json_response
from nexio_lite.fields import Boolean, Choice, Integer, Obj
from nexio_lite.jobtypes import maintenance_names
from nexio_lite.logs import get_logger
from nexio_lite.maintenance import new_maintenance_job
from nexio_lite.models import now_ms

log = get_logger("nexio_lite.api")

MAINTENANCE_REQUEST = Obj(
    {
        "job_type": Choice(maintenance_names(), "What to run."),
        "dry_run": Boolean("Count only: change nothing.", default=False),
        "older_than_days": Integer(
            0,
            36500,
            "decay_sweep only: delete terminal evaluation jobs completed more than this "
            "many days ago; default `retention.days`.",
        ),
    },
    ("job_type",),
)


def _detail(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def _details(body: dict[str, Any]) -> list[dict[str, str]]:
    details: list[dict[str, str]] = []
    MAINTENANCE_REQUEST.validate("", body, details, _detail)
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
