"""Middleware: a request id on every request and log line, errors as JSON, and one
`http_request` event and metric per request.

Every error leaves as the JSON body of API.md §3: our own `ApiError`s as they are,
aiohttp's HTTP exceptions translated, and anything unexpected as a 500 `internal` that
is logged with the request id and never shows a stack trace to the client.

Every request that reaches the application (401s, 404s, 405s and GETs included) is
answered with `X-Request-Id` (the client's own when it sent a printable one of at most
64 characters, else a new one; a streamed response sets it before its headers leave,
see api/traces.py), and is logged once as `http_request` with method, route (the route
template, `unmatched` when no route matched), status, duration_ms, request_id and org
(when its API key was accepted), and counted in `nexio_http_requests_total` and
`nexio_http_request_duration_seconds`. A request whose client went away before the
answer is logged and counted with status 499.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from nexio_lite.api.context import REQUEST_ORG, SERVICES
from nexio_lite.api.responses import error_response
from nexio_lite.errors import ApiError, Unavailable
from nexio_lite.logs import get_logger
from nexio_lite.metrics import UNMATCHED

log = get_logger("nexio_lite.api")

# Request ids: unique within this process run (a random tag, then a counter), and cheap.
_PROCESS_TAG = secrets.token_hex(4) + "_"
_counter = itertools.count(1)

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _translate(exc: web.HTTPException) -> ApiError:
    code = _HTTP_CODES.get(exc.status, "invalid_request" if exc.status < 500 else "internal")
    if exc.status == 404:
        message = "Not found"
    elif exc.status == 413:
        message = "Request body is too large"
    else:
        message = exc.reason
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return ApiError(exc.status, code, message, headers=headers)


def unavailable(exc: Unavailable) -> ApiError:
    """503 `unavailable`: nothing was half-written and the same request can be repeated."""
    return ApiError(
        503,
        "unavailable",
        f"The service cannot do this now ({exc}); send the same request again later",
        headers={"Retry-After": str(exc.retry_after_seconds)},
    )


CLIENT_GONE = 499  # the status logged and counted for a request whose client went away


def route_template(request: web.Request) -> str:
    """The template of the route that matched (`/api/v1/jobs/{job_id}`), `UNMATCHED`
    when none did: a bounded value, never the raw path."""
    resource = request.match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request.headers.get("X-Request-Id", "")
    if not (0 < len(request_id) <= 64 and request_id.isprintable()):
        request_id = f"req_{_PROCESS_TAG}{next(_counter):x}"
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    REQUEST_ORG.set(None)
    status = 500
    try:
        response = await _answer(request, handler, request_id)
        status = response.status
    except web.HTTPException as exc:  # a redirect: aiohttp sends it
        status = exc.status
        exc.headers["X-Request-Id"] = request_id
        raise
    except asyncio.CancelledError:
        status = CLIENT_GONE
        raise
    finally:
        _finished(request, request_id, status, time.perf_counter() - started)
        structlog.contextvars.clear_contextvars()
    if not response.prepared:  # a streamed response set it itself before sending
        response.headers["X-Request-Id"] = request_id
    return response


def _finished(request: web.Request, request_id: str, status: int, seconds: float) -> None:
    """The request's `http_request` event and metrics."""
    route = route_template(request)
    request.app[SERVICES].metrics.http_request(request.method, route, status, seconds)
    log.info("http_request", method=request.method, route=route, status=status,
             duration_ms=round(seconds * 1000, 2), request_id=request_id,
             org=REQUEST_ORG.get())  # fmt: skip


async def _answer(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except Unavailable as exc:
        log.warning("request_unavailable", method=request.method, path=request.path,
                    error=str(exc))  # fmt: skip
        return error_response(unavailable(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_translate(exc))
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        return error_response(
            ApiError(500, "internal", f"Internal error (request id {request_id})")
        )
