"""How console pages are answered: templates rendered off the event loop, security
headers, the session and scope check every page goes through, and HTML error pages.

Guarantees:

- Every page is rendered by Jinja2 (autoescaping on) in a worker thread, never on the
  event loop, together with any decoding of the data it shows (`render`).
- Every answer carries a Content-Security-Policy that lets the page load nothing but
  this origin's own files (`default-src 'self'`, no inline script or style, forms post
  only here, no framing), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
  same-origin` and `Cache-Control: no-store`.
- `page(scope)` wraps a handler: without a session a GET is sent to the sign-in form
  (and back afterwards), anything else gets 401; a key without `scope` gets a 403
  page (API.md §2); a request over the key's rate gets 429 (when limits are on); a
  database or scoring process that cannot serve now gets a 503 page with Retry-After.
  Errors are HTML pages here, not the API's JSON.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from nexio_lite.api.context import REQUEST_ORG, services
from nexio_lite.console.sessions import Session, current_session
from nexio_lite.errors import Unavailable
from nexio_lite.logs import get_logger
from nexio_lite.models import iso_ms

log = get_logger("nexio_lite.console")

STATIC_VERSION = "4"  # bump when console.css or console.js change (cache busting)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nexio_lite.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["number"] = _number
    env.globals["static"] = lambda name: f"/ui/static/{name}?v={STATIC_VERSION}"
    env.globals["query"] = _query
    return env


def static_dir() -> str:
    return str(resources.files("nexio_lite.console").joinpath("static"))


def _when(ms: int | str | None) -> str:
    """A time as the API writes it, without the milliseconds' noise: 2025-06-30 12:00:01Z."""
    if ms is None:
        return "\u2014"
    text = iso_ms(ms) if isinstance(ms, int) else ms
    return (text or "\u2014").replace("T", " ").split(".")[0] + " UTC"


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _query(base: dict[str, Any], **changes: Any) -> str:
    """`?a=1&b=2`: `base` with `changes`, None values left out."""
    merged = {**base, **changes}
    params = {k: v for k, v in merged.items() if v is not None and v != ""}
    return "?" + urlencode(params) if params else "?"


async def render(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """`template` rendered with `context` in a worker thread (after `prepare(context)`,
    there too, where the page's data needs decoding), with the console's headers."""
    env = request.app[TEMPLATES]

    def work() -> str:
        data = prepare(context) if prepare is not None else context
        return env.get_template(template).render(data)

    text = await asyncio.to_thread(work)
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def base_context(request: web.Request, session: Session | None, **extra: Any) -> dict[str, Any]:
    """What the layout needs: who is signed in, their scopes and CSRF token."""
    context: dict[str, Any] = {
        "session": session,
        "org": session.key.org_id if session else None,
        "key_name": session.key.name if session else None,
        "csrf": session.csrf if session else "",
        "scopes": set(session.key.scopes) if session else set(),
        "path": request.path,
        "section": "",
    }
    context.update(extra)
    return context


async def error_page(
    request: web.Request,
    status: int,
    title: str,
    message: str,
    session: Session | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    context = base_context(request, session, title=title, message=message, status=status)
    return await render(request, "error.html", context, status=status, headers=headers)


def redirect(location: str) -> web.Response:
    """303 See Other (after a POST, the browser GETs `location`), with our headers."""
    return web.Response(status=303, headers={**HEADERS, "Location": location})


def login_location(request: web.Request) -> str:
    return "/ui/login?next=" + quote(request.path_qs, safe="/")


def page(scope: str | None) -> Callable[[Handler], Route]:
    """Wrap a console handler: see the module docstring."""

    def wrap(handler: Handler) -> Route:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                session = await current_session(request)
                if session is None:
                    if request.method == "GET":
                        return redirect(login_location(request))
                    return await error_page(
                        request, 401, "Signed out", "Your session has ended: sign in again."
                    )
                REQUEST_ORG.set(session.key.org_id)
                refused = await _refusal(request, session, scope)
                if refused is not None:
                    return refused
                return await handler(request, session)
            except Unavailable as exc:
                log.warning("console_unavailable", path=request.path, error=str(exc))
                retry = str(exc.retry_after_seconds)
                return await error_page(
                    request,
                    503,
                    "Try again shortly",
                    f"The service cannot show this now ({exc}). Reload the page in a few seconds.",
                    headers={"Retry-After": retry},
                )

        return run

    return wrap


async def _refusal(
    request: web.Request, session: Session, scope: str | None
) -> web.Response | None:
    limiter = services(request).limiter
    if limiter is not None:
        wait = limiter.acquire(session.key.id)
        if wait:
            return await error_page(
                request,
                429,
                "Too many requests",
                f"This API key is over its request rate: try again in {wait} s.",
                session,
                headers={"Retry-After": str(wait)},
            )
    if scope is not None and not session.can(scope):
        return await error_page(
            request,
            403,
            "Not allowed",
            f"This page needs the {scope} scope, which the API key you signed in with "
            "does not have. Sign in with a key that has it.",
            session,
        )
    return None
