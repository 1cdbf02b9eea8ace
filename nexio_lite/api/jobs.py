"""`POST /api/v1/jobs` and `GET /api/v1/jobs/{id}` (API.md §4–5)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from typing import Any

from aiohttp import web

from nexio_lite.api.context import Services, authorize, services
from nexio_lite.api.responses import bad_request, dumps, json_text, not_found
from nexio_lite.envelope import envelope
from nexio_lite.errors import ApiError
from nexio_lite.logs import get_logger
from nexio_lite.models import (
    EVALUATION,
    JOB_TYPES,
    IdempotencyState,
    JobStatus,
    NewJob,
    now_ms,
    random_id,
)
from nexio_lite.pipeline.request import BodyError, error_message, parse_json_body, validate_request
from nexio_lite.webhooks.ssrf import UrlPolicy, check_url

log = get_logger("nexio_lite.api")

JOB_ID = re.compile(r"(?:eval|job)_[0-9A-Za-z]{16,64}")
RETRY_AFTER_SECONDS = "1"
MAX_WAIT_SECONDS = 60
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
IDEMPOTENCY_STALE_MS = 60 * 1000  # a key whose request never finished (a crash) is freed


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
    idem_key = _idempotency_key(request)
    body = await read_json_object(request, svc.settings.server.max_body_bytes)
    if idem_key is None:
        return await _submit(svc, key.org_id, body, None)
    claim = await svc.store.begin_idempotent(
        key.org_id, idem_key, _body_hash(body), now_ms(), IDEMPOTENCY_TTL_MS, IDEMPOTENCY_STALE_MS
    )
    if claim.state is IdempotencyState.REUSED:
        raise ApiError(422, "idempotency_key_reused",
                       "This Idempotency-Key was used with a different request body")  # fmt: skip
    if claim.state is IdempotencyState.IN_PROGRESS:
        raise ApiError(409, "conflict", "A request with this Idempotency-Key is in progress")
    if claim.state is IdempotencyState.REPLAY:
        assert claim.response is not None
        headers = {"Location": f"/api/v1/jobs/{claim.job_id}", "Idempotent-Replayed": "true"}
        return json_text(claim.response, status=202, headers=headers)
    try:
        return await _submit(svc, key.org_id, body, idem_key)
    except BaseException:
        await svc.store.abandon_idempotent(key.org_id, idem_key)
        raise


def _idempotency_key(request: web.Request) -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if not (1 <= len(value) <= 255 and all(" " <= ch <= "~" for ch in value)):
        raise bad_request("Idempotency-Key must be 1-255 printable ASCII characters")
    return value


def _body_hash(body: dict[str, Any]) -> str:
    """Same request, same hash: key order and white space do not matter."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


async def _submit(
    svc: Services, org_id: str, body: dict[str, Any], idem_key: str | None
) -> web.Response:
    validated = validate_request(body)
    if isinstance(validated, list):
        raise bad_request(error_message(validated), [d.to_dict() for d in validated])
    pool = await svc.current_pool(org_id, validated.pool)
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
        org_id=org_id,
        type=EVALUATION,
        request=dumps(validated.normalized),
        created_at=now_ms(),
        pool_id=pool.pool_id,
        pool_version=pool.version,
        webhook_url=validated.webhook_url,
    )
    answer = dumps({"eval_id": job.id, "status": "queued"})
    await svc.store.enqueue(job, None if idem_key is None else (idem_key, answer))
    svc.notify_workers()
    log.info("job_submitted", job_id=job.id, org_id=job.org_id, pool=pool.pool_id,
             pool_version=pool.version)  # fmt: skip
    return json_text(answer, status=202, headers={"Location": f"/api/v1/jobs/{job.id}"})


async def get_job(request: web.Request) -> web.Response:
    """The job envelope. `?wait=N` (0-60) answers as soon as the job is terminal, or
    after N seconds: woken by the worker that finishes it, never by polling."""
    svc = services(request)
    key = await authorize(request, "jobs:read")
    wait = _int_param(request, "wait", 0, MAX_WAIT_SECONDS, 0)
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        raise not_found(f"Job '{job_id}' not found")
    waiter = svc.waiters.register(job_id) if wait else None
    try:
        job = await svc.store.get_job(key.org_id, job_id)
        if job is None:
            raise not_found(f"Job '{job_id}' not found")
        if waiter is not None and not job.status.terminal:
            await asyncio.wait({waiter}, timeout=wait)
            job = await svc.store.get_job(key.org_id, job_id) or job
    finally:
        if waiter is not None:
            svc.waiters.forget(job_id, waiter)
    headers = None if job.status.terminal else {"Retry-After": RETRY_AFTER_SECONDS}
    return json_text(envelope(job, svc.settings.base_url), headers=headers)


def _int_param(request: web.Request, name: str, lo: int, hi: int, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:
        raise bad_request(f"{name} must be an integer between {lo} and {hi}")
    return int(raw)


async def list_jobs(request: web.Request) -> web.Response:
    """The organization's jobs, newest first, without candidates, `limit` per page; the
    cursor pages backwards from where the previous page ended, so pages stay stable
    while new jobs arrive."""
    svc = services(request)
    key = await authorize(request, "jobs:read")
    limit = _int_param(request, "limit", 1, 100, 20)
    status = request.query.get("status")
    if status is not None and status not in JobStatus.__members__.values():
        raise bad_request("status must be one of: queued, processing, completed, failed")
    job_type = request.query.get("type")
    if job_type is not None and job_type not in JOB_TYPES:
        raise bad_request(f"type must be one of: {', '.join(JOB_TYPES)}")
    before = _decode_cursor(request.query.get("cursor"))
    jobs = await svc.store.list_jobs(key.org_id, limit=limit + 1, status=status,
                                     job_type=job_type, before_seq=before)  # fmt: skip
    page = jobs[:limit]
    next_cursor = _encode_cursor(page[-1].seq) if len(jobs) > limit else None
    items = ",".join(envelope(j, svc.settings.base_url, with_candidates=False) for j in page)
    return json_text(f'{{"data":[{items}],"next_cursor":{dumps(next_cursor)}}}')


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, seq = text.partition(":")
        if version == "v1" and seq.isdigit():
            return int(seq)
    except (ValueError, UnicodeDecodeError):
        pass
    raise bad_request("cursor is not valid: use the next_cursor of a previous page")
