"""`GET /traces/{eval_id}`: the audit trace, recomputed on demand (DOMAIN.md §8).

What is guaranteed:

- Nothing heavy runs on the event loop: a scoring process builds the trace and hands
  back bytes ready to send (`scoring.run_trace`): the JSON (exactly the §8 record;
  gzip-compressed for a full trace, ~15 MB instead of 210 MB at 99,999 carriers) or
  one HTML page. This handler checks the request, waits for a trace slot and sends
  those bytes in 1 MiB writes: a gzipped trace as it is (`Content-Encoding: gzip`) to
  a client that accepts gzip, else inflated 1 MiB at a time in a thread (zlib does
  not hold the GIL while it inflates).
- At most `workers.processes` (at least 1) trace recomputations run at once in this
  process (`TraceSlots`). A request waits at most `TRACE_WAIT_SECONDS` for a slot and
  then gets 503 `unavailable` with Retry-After: a burst of heavy readers cannot pile up
  requests without bound, and it never took any scoring work, so nothing is wasted.
- The HTML view (`Accept: text/html`) is paged: `?page=N` (1-based, default 1), 100
  candidates a page. A malformed `page`, or one past the last page (known from the
  job's stored `passed` count), is 400 `invalid_request` before any scoring call.
"""

from __future__ import annotations

import asyncio
import json
import weakref
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiohttp import web

from nexio_lite.api.context import authorize, services
from nexio_lite.api.jobs import JOB_ID
from nexio_lite.api.responses import bad_request, not_found, query_values
from nexio_lite.errors import Unavailable
from nexio_lite.fields import Choice, Query
from nexio_lite.jobtypes import Trace, job_type, traced_names
from nexio_lite.logs import get_logger
from nexio_lite.models import Job, JobStatus
from nexio_lite.trace_output import is_gzip
from nexio_lite.trace_page import TracePage, page_count

T = TypeVar("T")
log = get_logger("nexio_lite.api")

LEVELS = ("full", "summary")
TRACE_QUERY = (
    Query("level", Choice(LEVELS), "`summary`: header, stages and candidates only.",
          default="full"),
)  # fmt: skip
MAX_PAGE_DIGITS = 9
TRACE_WAIT_SECONDS = 30.0
SEND_CHUNK_BYTES = 1 << 20
INFLATE_INPUT_BYTES = 1 << 16


class TraceBusy(Unavailable):
    """Every trace slot stayed busy for `TRACE_WAIT_SECONDS` (answered 503)."""

    retry_after_seconds = 5


class TraceSlots:
    """At most `limit` trace recomputations at once. `run` waits at most `wait_seconds`
    for a slot (else TraceBusy); a slot is held until its recomputation ends, even when
    the request that started it goes away (the scoring process keeps working on it)."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._free = asyncio.Semaphore(limit)

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        try:
            await asyncio.wait_for(self._free.acquire(), self.wait_seconds)
        except TimeoutError:
            raise TraceBusy(f"{self.limit} trace recomputations are running") from None
        task = asyncio.ensure_future(work())
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._free.release()
        if not task.cancelled():
            task.exception()  # retrieved: a caller that went away does not need it


_SLOTS: weakref.WeakKeyDictionary[web.Application, TraceSlots] = weakref.WeakKeyDictionary()


def trace_slots(request: web.Request) -> TraceSlots:
    """The application's trace slots: one per scoring process (at least one)."""
    slots = _SLOTS.get(request.app)
    if slots is None:
        processes = services(request).settings.workers.processes
        slots = _SLOTS[request.app] = TraceSlots(max(1, processes), TRACE_WAIT_SECONDS)
    return slots


async def get_trace(request: web.Request) -> web.StreamResponse:
    """The trace as JSON (`?level=`), or one page of it as HTML (`Accept: text/html`,
    `?page=`); see the module docstring for what is guaranteed."""
    svc = services(request)
    key = await authorize(request, "traces:read")
    eval_id = request.match_info["eval_id"]
    level = query_values(request, TRACE_QUERY)["level"]
    page = _page_param(request)
    job = None
    if JOB_ID.fullmatch(eval_id):
        job = await svc.store.get_job(key.org_id, eval_id)
    if job is None or job.type not in traced_names():
        raise not_found(f"Trace '{eval_id}' not found")
    if job.status is not JobStatus.COMPLETED:
        raise not_found(f"Trace '{eval_id}' is not available: the job is {job.status.value}")
    if job_type(job.type).trace is Trace.STORED:  # small, kept with the job (SCREEN.md §5)
        return web.Response(text=job.stages or "{}", content_type="application/json")
    pages = page_count(_passed(job))
    if page > pages:
        raise bad_request(f"page must be between 1 and {pages} for this trace")
    html_view = _wants_html(request)
    view: str | TracePage = TracePage(page) if html_view else level
    trace = svc.trace
    assert trace is not None
    body: bytes = await trace_slots(request).run(lambda: trace(job, view))
    return await send_bytes(request, body, "text/html" if html_view else "application/json")


def _page_param(request: web.Request) -> int:
    """`?page=N`, 1-based (1 when absent); 400 unless a positive decimal integer."""
    raw = request.query.get("page")
    if raw is None:
        return 1
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_PAGE_DIGITS and int(raw) >= 1):
        raise bad_request("page must be a positive integer")
    return int(raw)


def _passed(job: Job) -> int:
    """How many carriers the completed evaluation ranked (its stored `passed` count)."""
    result = json.loads(job.result or "{}")
    passed = result.get("passed", 0) if isinstance(result, dict) else 0
    return passed if isinstance(passed, int) else 0


async def send_bytes(request: web.Request, body: bytes, content_type: str) -> web.StreamResponse:
    """Send `body`, UTF-8 text of `content_type` or its gzip stream (`is_gzip`), in
    `SEND_CHUNK_BYTES` writes, each awaited, so that no step copies or inflates more
    than that on the event loop. A gzip stream goes as it is to a client that accepts
    gzip, and is inflated in a thread for one that does not."""
    gzipped = is_gzip(body)
    if gzipped and not _accepts_gzip(request):
        return await _send_inflated(request, body, content_type)
    headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if gzipped else {}
    if len(body) <= SEND_CHUNK_BYTES:
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)
    response = _stream_response(content_type, headers)
    response.content_length = len(body)
    await response.prepare(request)
    view = memoryview(body)
    try:
        for start in range(0, len(body), SEND_CHUNK_BYTES):
            await response.write(view[start : start + SEND_CHUNK_BYTES])
        await response.write_eof()
    except ConnectionError:  # the client went away: nothing more to answer
        log.info("trace_send_aborted", sent=start, size=len(body))
    return response


async def _send_inflated(
    request: web.Request, body: bytes, content_type: str
) -> web.StreamResponse:
    """Send a gzip stream's content (chunked), inflating at most `SEND_CHUNK_BYTES` at a
    time in the default executor."""
    response = _stream_response(content_type, {"Vary": "Accept-Encoding"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    inflate = zlib.decompressobj(31)
    view = memoryview(body)
    position = 0
    pending: bytes | memoryview = b""
    try:
        while pending or position < len(body):
            if not pending:
                pending = view[position : position + INFLATE_INPUT_BYTES]
                position += len(pending)
            out = await loop.run_in_executor(None, inflate.decompress, pending, SEND_CHUNK_BYTES)
            pending = inflate.unconsumed_tail
            if out:
                await response.write(out)
        await response.write(inflate.flush())
        await response.write_eof()
    except ConnectionError:  # the client went away: nothing more to answer
        log.info("trace_send_aborted", sent=position, size=len(body))
    return response


def _stream_response(content_type: str, headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    response.content_type = content_type
    response.charset = "utf-8"
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:  # the middleware's header comes too late for a streamed response
        response.headers["X-Request-Id"] = request_id
    return response


def _accepts_gzip(request: web.Request) -> bool:
    """Whether Accept-Encoding lists gzip (or x-gzip) with a weight above 0."""
    for item in request.headers.get("Accept-Encoding", "").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if coding.lower() not in ("gzip", "x-gzip"):
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def _wants_html(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept
