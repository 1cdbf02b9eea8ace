"""`POST /api/v1/analysis/screen` (SCREEN.md §1): queue a `screen_analysis` job.

Same headers, size limit, content type, Idempotency-Key and error machinery as
`POST /api/v1/jobs` (`jobs.accept_job`). Checks, first failure answers: the body, every
field at once (400), the rule book (422 `unknown_rulebook`), the webhook URL (422
`invalid_webhook_url`). The job names the rule book version current at acceptance.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nexio_lite.api.context import Services
from nexio_lite.api.jobs import accept_job, check_webhook_url, enqueue_job
from nexio_lite.api.responses import bad_request, dumps
from nexio_lite.errors import ApiError
from nexio_lite.jobtypes import BY_NAME, SCREEN_ANALYSIS
from nexio_lite.models import NewJob, now_ms, random_id
from nexio_lite.validation import error_message
from nexio_lite.verticals.screen import unknown_rulebook_message, validate_screen_request

PATH = BY_NAME[SCREEN_ANALYSIS].create_route.partition(" ")[2]


async def submit_screen(request: web.Request) -> web.Response:
    return await accept_job(request, _submit, kind=PATH)


async def _submit(
    svc: Services, org_id: str, body: dict[str, Any], idem_key: str | None
) -> web.Response:
    validated = validate_screen_request(body)
    if isinstance(validated, list):
        raise bad_request(error_message(validated), [d.to_dict() for d in validated])
    book = await svc.store.current_rulebook(org_id, validated.rulebook)
    if book is None:
        raise ApiError(422, "unknown_rulebook", unknown_rulebook_message(validated.rulebook))
    check_webhook_url(svc, validated.webhook_url)
    job = NewJob(
        id=random_id(BY_NAME[SCREEN_ANALYSIS].id_prefix),
        org_id=org_id,
        type=SCREEN_ANALYSIS,
        request=dumps(validated.normalized),
        created_at=now_ms(),
        webhook_url=validated.webhook_url,
        rulebook_id=book.rulebook_id,
        rulebook_version=book.version,
    )
    answer = {"id": job.id, "type": SCREEN_ANALYSIS, "status": "queued"}
    return await enqueue_job(svc, job, answer, idem_key,
                             rulebook=book.rulebook_id, rulebook_version=book.version)  # fmt: skip
