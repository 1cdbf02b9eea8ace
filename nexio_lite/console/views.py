"""The console's pages (API.md §10): sign-in and sign-out, Jobs, Job (with redelivery; a
screen job's page adds its findings and the screened text with the evidence marked),
Trace and Pools. Each reads through the same store calls and scope rules as the JSON API
(API.md §2): another organization's job is "not found", never "forbidden"."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from aiohttp import web

from nexio_lite import jobtypes
from nexio_lite.api.context import REQUEST_ORG, services
from nexio_lite.api.deliveries import delivery_body
from nexio_lite.api.jobs import JOB_ID
from nexio_lite.api.traces import trace_slots
from nexio_lite.console import jobdata, screendata, sessions
from nexio_lite.console.sessions import Session
from nexio_lite.console.tracedata import ConsoleTraceView
from nexio_lite.console.web import base_context, error_page, page, redirect, render
from nexio_lite.errors import Conflict, NotFound
from nexio_lite.logs import get_logger
from nexio_lite.models import EVALUATION, SCREEN_ANALYSIS, Job, JobStatus, now_ms
from nexio_lite.verticals.carriers.rules import RULE_CODES

log = get_logger("nexio_lite.console")

JOBS_PER_PAGE = 25
MAX_JOBS_PER_PAGE = 100
REFRESH_SECONDS = 3
MAX_PAGE = 10**9
CURSOR = re.compile(r"[1-9][0-9]{0,17}")  # the sequence number where the last page ended


def _page_number(request: web.Request, name: str) -> int | None:
    """`?name=N`, 1 when absent, None when not a positive integer."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return 1
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 9 and int(raw) >= 1):
        return None
    return int(raw)


def _next_target(raw: str | None) -> str:
    """Where to go after signing in: a console path of this site, else the Jobs page."""
    if raw and raw.startswith("/ui/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/ui/jobs"


# ---- signing in and out ---------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    session = await sessions.current_session(request)
    return redirect("/ui/jobs" if session else "/ui/login")


async def login_form(request: web.Request) -> web.StreamResponse:
    session = await sessions.current_session(request)
    target = _next_target(request.query.get("next"))
    if session is not None:
        return redirect(target)
    return await _login_page(request, target, None, 200)


async def _login_page(
    request: web.Request, target: str, problem: str | None, status: int
) -> web.StreamResponse:
    holder = web.Response()  # collects the login cookie set while choosing the nonce
    nonce = await sessions.login_nonce(request, holder)
    context = base_context(
        request,
        None,
        title="Sign in",
        next=target,
        nonce=nonce,
        problem=problem,
        signed_out=request.query.get("signed_out") == "1",
    )
    response = await render(request, "login.html", context, status=status)
    for cookie in holder.cookies.values():
        response.cookies[cookie.key] = cookie
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    target = _next_target(str(form.get("next", "")))
    if not sessions.same_origin(request) or not await sessions.login_nonce_matches(
        request, str(form.get("csrf", ""))
    ):
        return await _login_page(
            request, target, "The form had expired: please sign in again.", 403
        )
    presented = str(form.get("api_key", "")).strip()
    svc = services(request)
    key = await svc.keys.check(presented, now_ms()) if presented else None
    if key is None:
        log.info("console_login_refused")
        return await _login_page(
            request, target, "That API key is not valid: it is unknown or revoked.", 401
        )
    REQUEST_ORG.set(key.org_id)
    response = redirect(target)
    await sessions.start_session(request, response, key)
    sessions.clear_cookie(request, response, sessions.LOGIN_COOKIE)
    log.info("console_login", key_id=key.id, org=key.org_id)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    session = await sessions.current_session(request)
    form = await request.post()
    if session is not None and not (
        sessions.same_origin(request) and sessions.csrf_ok(session, str(form.get("csrf", "")))
    ):
        return await error_page(
            request, 403, "Not allowed", "The form had expired: reload the page.", session
        )
    response = redirect("/ui/login?signed_out=1")
    ended = await sessions.end_session(request, response)
    if session is not None:
        log.info("console_logout", key_id=session.key.id, org=session.key.org_id, ended=ended)
    return response


# ---- jobs -----------------------------------------------------------------------------


def _job_row(job: Job) -> dict[str, Any]:
    result = orjson.loads(job.result) if job.status is JobStatus.COMPLETED and job.result else {}
    error = orjson.loads(job.error) if job.status is JobStatus.FAILED and job.error else None
    duration = (
        job.completed_at - job.started_at
        if job.completed_at is not None and job.started_at is not None
        else None
    )
    return {
        "id": job.id,
        "type": job.type,
        "status": job.status.value,
        "created_at": job.created_at,
        "duration_ms": duration,
        "attempts": job.attempts,
        "pool": job.pool_id,
        "pool_version": job.pool_version,
        "rulebook": job.rulebook_id,
        "rulebook_version": job.rulebook_version,
        "result": result if isinstance(result, dict) else {},
        "error": error if isinstance(error, dict) else None,
    }


@page("jobs:read")
async def jobs(request: web.Request, session: Session) -> web.StreamResponse:
    svc = services(request)
    status = request.query.get("status") or None
    job_type = request.query.get("type") or None
    cursor = request.query.get("cursor") or None
    before = int(cursor) if cursor and CURSOR.fullmatch(cursor) else None
    limit = _page_number(request, "limit") if "limit" in request.query else JOBS_PER_PAGE
    if limit is None or limit > MAX_JOBS_PER_PAGE:
        return await error_page(
            request,
            400,
            "Unknown page size",
            f"Show 1 to {MAX_JOBS_PER_PAGE} jobs a page.",
            session,
        )
    if (status is not None and status not in JobStatus.__members__.values()) or (
        job_type is not None and job_type not in jobtypes.names()
    ):
        return await error_page(
            request, 400, "Unknown filter", "Choose a status and a type from the lists.", session
        )
    if cursor and before is None:
        return await error_page(
            request,
            400,
            "Unknown page",
            "That page link is not valid: start from the newest jobs.",
            session,
        )
    found = await svc.store.list_jobs(
        session.key.org_id,
        limit=limit + 1,
        status=status,
        job_type=job_type,
        before_seq=before,
    )
    shown = found[:limit]
    next_cursor = str(shown[-1].seq) if len(found) > limit else None
    running = any(not j.status.terminal for j in shown)
    context = base_context(
        request,
        session,
        title="Jobs",
        section="jobs",
        filters={
            "status": status,
            "type": job_type,
            "limit": None if limit == JOBS_PER_PAGE else limit,
        },
        statuses=[s.value for s in JobStatus],
        types=list(jobtypes.names()),
        next_cursor=next_cursor,
        paged=cursor is not None,
        refresh=REFRESH_SECONDS if running else None,
    )
    context["jobs"] = shown

    def prepare(data: dict[str, Any]) -> dict[str, Any]:
        data["jobs"] = [_job_row(j) for j in data["jobs"]]
        return data

    return await render(request, "jobs.html", context, prepare=prepare)


async def _own_job(request: web.Request, session: Session) -> Job | None:
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        return None
    return await services(request).store.get_job(session.key.org_id, job_id)


async def _not_found(request: web.Request, session: Session, what: str) -> web.StreamResponse:
    return await error_page(
        request,
        404,
        "Not found",
        f"There is no {what} with this id in your organization.",
        session,
    )


@page("jobs:read")
async def job(request: web.Request, session: Session) -> web.StreamResponse:
    svc = services(request)
    found = await _own_job(request, session)
    if found is None:
        return await _not_found(request, session, "job")
    number = _page_number(request, "page")
    passed = _passed(found)
    pages = max(1, -(-passed // jobdata.CANDIDATES_PER_PAGE))
    if number is None or number > pages:
        return await error_page(
            request, 400, "Unknown page", f"This job's candidates fill pages 1 to {pages}.", session
        )
    deliveries = await svc.store.list_deliveries(session.key.org_id, found.id)
    notice = request.query.get("redelivered")
    context = base_context(
        request,
        session,
        title=f"Job {found.id}",
        section="jobs",
        job_id=found.id,
        page=number,
        pages=pages,
        first_rank=(number - 1) * jobdata.CANDIDATES_PER_PAGE + 1,
        deliveries=[delivery_body(d) for d in deliveries],
        can_redeliver=found.status.terminal and bool(found.webhook_url),
        has_webhook=bool(found.webhook_url),
        notice=notice if notice else None,
        problem=request.query.get("problem"),
        is_evaluation=found.type == EVALUATION,
        refresh=REFRESH_SECONDS if not found.status.terminal or _pending(deliveries) else None,
    )
    base_url = svc.settings.base_url

    def prepare(data: dict[str, Any]) -> dict[str, Any]:
        data["envelope"] = jobdata.envelope_fields(found, base_url)
        data["envelope_json"] = orjson.dumps(data["envelope"], option=orjson.OPT_INDENT_2).decode()
        data["candidates"] = jobdata.candidate_page(found, number)
        data["screen"] = screendata.screen_page(found) if found.type == SCREEN_ANALYSIS else None
        return data

    return await render(request, "job.html", context, prepare=prepare)


def _passed(job: Job) -> int:
    """How many candidates a completed evaluation ranked (its stored `passed`), else 0."""
    if job.status is not JobStatus.COMPLETED or not job.result:
        return 0
    result = orjson.loads(job.result)
    passed = result.get("passed", 0) if isinstance(result, dict) else 0
    return passed if isinstance(passed, int) else 0


def _pending(deliveries: list[Any]) -> bool:
    return any(d.status.value == "pending" for d in deliveries)


@page("jobs:write")
async def redeliver(request: web.Request, session: Session) -> web.StreamResponse:
    svc = services(request)
    form = await request.post()
    if not (sessions.same_origin(request) and sessions.csrf_ok(session, str(form.get("csrf", "")))):
        return await error_page(
            request, 403, "Not allowed", "The form had expired: reload the page.", session
        )
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        return await _not_found(request, session, "job")
    try:
        delivery = await svc.store.add_delivery(session.key.org_id, job_id, now_ms())
    except NotFound:
        return await _not_found(request, session, "job")
    except Conflict as exc:
        return await error_page(request, 409, "Cannot redeliver", str(exc), session)
    log.info("webhook_redelivery_queued", job_id=job_id, delivery_id=delivery.id)
    return redirect(f"/ui/jobs/{job_id}?redelivered={delivery.id}#deliveries")


# ---- trace ----------------------------------------------------------------------------


def _rule_param(request: web.Request) -> tuple[bool, str | None]:
    rule = request.query.get("rule") or None
    return (rule is None or rule in RULE_CODES), rule


@page("traces:read")
async def trace(request: web.Request, session: Session) -> web.StreamResponse:
    svc = services(request)
    found = await _own_job(request, session)
    if found is None or found.type != EVALUATION:
        return await _not_found(request, session, "evaluation")
    if found.status is not JobStatus.COMPLETED:
        return await error_page(
            request,
            409,
            "No trace yet",
            f"This evaluation is {found.status.value}: only a completed one has a trace.",
            session,
        )
    candidate_page = _page_number(request, "cpage")
    filtered_page = _page_number(request, "fpage")
    known, rule = _rule_param(request)
    if candidate_page is None or filtered_page is None or not known:
        return await error_page(
            request, 400, "Unknown page", "That page link is not valid.", session
        )
    view = ConsoleTraceView(candidate_page, rule, filtered_page)
    run = svc.trace
    assert run is not None
    started = asyncio.get_running_loop().time()
    body: bytes = await trace_slots(request).run(lambda: run(found, view))
    log.info(
        "console_trace_computed",
        job_id=found.id,
        bytes=len(body),
        duration_ms=round((asyncio.get_running_loop().time() - started) * 1000, 1),
    )
    context = base_context(
        request,
        session,
        title=f"Trace {found.id}",
        section="jobs",
        job_id=found.id,
        rule=rule,
        cpage=candidate_page,
        fpage=filtered_page,
    )

    def prepare(data: dict[str, Any]) -> dict[str, Any]:
        data["trace"] = orjson.loads(body)
        return data

    return await render(request, "trace.html", context, prepare=prepare)


# ---- pools ----------------------------------------------------------------------------


@page("jobs:read")
async def pools(request: web.Request, session: Session) -> web.StreamResponse:
    found = await services(request).store.list_pools(session.key.org_id)
    context = base_context(request, session, title="Pools", section="pools", pools=found)
    return await render(request, "pools.html", context)


async def not_found(request: web.Request) -> web.StreamResponse:
    session = await sessions.current_session(request)
    return await error_page(request, 404, "Not found", "There is no such page.", session)
