"""`POST /api/v1/jobs` and `GET /api/v1/jobs/{id}` (API.md §4–5)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from nexio_lite.api.context import authorize, services
from nexio_lite.api.responses import bad_request, dumps, json_response, json_text, not_found
from nexio_lite.envelope import envelope
from nexio_lite.errors import ApiError
from nexio_lite.logs import get_logger
from nexio_lite.models import EVALUATION, NewJob, now_ms, random_id
from nexio_lite.pipeline.request import BodyError, error_message, parse_json_body, validate_request
from nexio_lite.webhooks.ssrf import UrlPolicy, check_url

log = get_logger("nexio_lite.api")

JOB_ID = re.compile(r"(?:eval|job)_[0-9A-Za-z]{16,64}")
RETRY_AFTER_SECONDS = "1"


async def read_json_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, or the API error that says why not: 415 for a content
    type other than application/json, 413 over `max_bytes`, 400 for anything else."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    too_large = ApiError(413, "payload_too_large", f"Request body is larger than {max_bytes} bytes")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(raw) > max_bytes:
        raise too_large
    try:
        body = parse_json_body(raw)
    except BodyError as exc:
        raise bad_request(str(exc)) from None
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body


async def submit_job(request: web.Request) -> web.Response:
    svc = services(request)
    key = await authorize(request, "jobs:write")
    body = await read_json_object(request, svc.settings.server.max_body_bytes)
    validated = validate_request(body)
    if isinstance(validated, list):
        raise bad_request(error_message(validated), [d.to_dict() for d in validated])
    pool = await svc.store.current_pool(key.org_id, validated.pool)
    if pool is None:
        raise ApiError(
            422, "unknown_pool", f"Pool '{validated.pool}' not found for your organization"
        )
    if validated.webhook_url is not None:
        hooks = svc.settings.webhooks
        policy = UrlPolicy(hooks.allow_private_targets, hooks.require_https)
        reason = check_url(validated.webhook_url, policy)
        if reason is not None:
            raise ApiError(422, "invalid_webhook_url", reason)
    job = NewJob(
        id=random_id("eval_"),
        org_id=key.org_id,
        type=EVALUATION,
        request=dumps(validated.normalized),
        created_at=now_ms(),
        pool_id=pool.pool_id,
        pool_version=pool.version,
        webhook_url=validated.webhook_url,
    )
    await svc.store.enqueue(job)
    svc.notify_workers()
    log.info("job_submitted", job_id=job.id, org_id=job.org_id, pool=pool.pool_id,
             pool_version=pool.version)  # fmt: skip
    return json_response(
        {"eval_id": job.id, "status": "queued"},
        status=202,
        headers={"Location": f"/api/v1/jobs/{job.id}"},
    )


async def get_job(request: web.Request) -> web.Response:
    svc = services(request)
    key = await authorize(request, "jobs:read")
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        raise not_found(f"Job '{job_id}' not found")
    job = await svc.store.get_job(key.org_id, job_id)
    if job is None:
        raise not_found(f"Job '{job_id}' not found")
    headers = None if job.status.terminal else {"Retry-After": RETRY_AFTER_SECONDS}
    return json_text(envelope(job, svc.settings.base_url), headers=headers)
