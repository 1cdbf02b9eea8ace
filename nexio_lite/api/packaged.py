"""The create endpoint of a packaged job type (`JobType.package`): one handler for all.

The same headers, size limit, content type, Idempotency-Key and error machinery as
`POST /api/v1/jobs` (`jobs.accept_job`). Checks, first failure answers: the body, every
field at once (400), the webhook URL (422 `invalid_webhook_url`). 202 with `Location`
and `{id, type, status}`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nexio_lite.api.context import Services
from nexio_lite.api.jobs import accept_job, check_webhook_url, enqueue_job
from nexio_lite.api.responses import bad_request, dumps
from nexio_lite.jobtypes import JobType
from nexio_lite.models import NewJob, now_ms, random_id
from nexio_lite.validation import error_message
from nexio_lite.verticals.package import load_package, validate_body


def create_handler(declared: JobType) -> Any:
    """The aiohttp handler that queues a job of `declared` (a packaged type)."""
    package = load_package(declared.package)

    async def submit(
        svc: Services, org_id: str, body: dict[str, Any], idem_key: str | None
    ) -> web.Response:
        valid = validate_body(package, body)
        if isinstance(valid, list):
            raise bad_request(error_message(valid), [d.to_dict() for d in valid])
        webhook_url = valid.get("webhook_url")
        check_webhook_url(svc, webhook_url)
        job = NewJob(
            id=random_id(declared.id_prefix),
            org_id=org_id,
            type=declared.name,
            request=dumps(valid),
            created_at=now_ms(),
            webhook_url=webhook_url,
        )
        answer = {"id": job.id, "type": declared.name, "status": "queued"}
        return await enqueue_job(svc, job, answer, idem_key)

    async def handler(request: web.Request) -> web.Response:
        return await accept_job(request, submit, kind=declared.path)

    handler.__name__ = f"submit_{declared.name}"
    return handler
