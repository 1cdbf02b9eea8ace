"""What the sync and async clients share, without I/O: the requests each method sends
(`Call`), how an answer is read (`read_answer`), and when to retry (`RetryPolicy`).

Both transports only move bytes; every decision is made here, so `Client` and
`AsyncClient` behave identically.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import attrs
import orjson

from nexio_lite.client.errors import (
    ConnectionFailed,
    InvalidResponse,
    NexioError,
    error_from_answer,
)

USER_AGENT = "nexio-lite-client/0.1"
MAX_WAIT_ROUND = 60  # the largest `?wait=` the API accepts (API.md §5)
IDLE_CONNECTION_SECONDS = 15.0  # below the server's keep-alive (75 s): no stale reuse


@attrs.frozen
class Call:
    """One API request. `retry_statuses` are the answers worth sending it again for;
    `replayable` says whether it may be resent after it may have reached the server
    (a GET, or a POST the server deduplicates by its Idempotency-Key); `extra_timeout`
    is added to the read timeout (a `?wait=` long-poll)."""

    method: str
    path: str
    body: bytes | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    retry_statuses: frozenset[int] = frozenset({429, 503})
    replayable: bool = True
    extra_timeout: float = 0.0


@attrs.frozen
class Answer:
    """A whole HTTP answer; header names are lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class SendFailed(Exception):
    """A transport could not get an answer. `sent` is False only when the request
    surely never reached the server (the connection was never made)."""

    def __init__(self, reason: str, *, sent: bool, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.sent = sent
        self.timed_out = timed_out

    @classmethod
    def of(cls, exc: BaseException, *, sent: bool) -> SendFailed:
        """The failure `exc` stands for (a timeout when it is a `TimeoutError`)."""
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return cls(reason, sent=sent, timed_out=isinstance(exc, TimeoutError))

    def to_error(self) -> ConnectionFailed:
        code = "timeout" if self.timed_out else "connection_error"
        return ConnectionFailed(str(self), code=code)


def base_url(url: str) -> str:
    """`url` without a trailing slash, after checking it is an absolute http(s) URL
    (a path prefix, as behind a reverse proxy, is kept). Raises ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base URL must be an absolute http(s) URL, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base URL must not have a query or fragment, got {url!r}")
    return url.rstrip("/")


def new_idempotency_key() -> str:
    """A random Idempotency-Key (printable ASCII, well within 255 characters)."""
    return "nxc_" + secrets.token_urlsafe(24)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _query(path: str, params: Mapping[str, str | int | None]) -> str:
    present = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(present)}" if present else path


def _post(path: str, body: Any, idempotency_key: str | None, **kw: Any) -> Call:
    headers = {"Idempotency-Key": idempotency_key or new_idempotency_key()}
    payload = None
    if body is not None:
        payload = json.dumps(body, separators=(",", ":")).encode("ascii")
        headers["Content-Type"] = "application/json"
    return Call("POST", path, payload, headers, **kw)


def submit_call(
    profile: Mapping[str, Any],
    pool: str,
    webhook_url: str | None,
    options: Mapping[str, Any] | None,
    idempotency_key: str | None,
) -> Call:
    """POST /api/v1/jobs. The server deduplicates it by its Idempotency-Key, so it is
    replayable, and a 409 (the same key still in progress) is worth waiting out."""
    body: dict[str, Any] = {"profile": dict(profile), "pool": pool}
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    if options is not None:
        body["options"] = dict(options)
    return _post("/api/v1/jobs", body, idempotency_key, retry_statuses=frozenset({409, 429, 503}))


def submit_screen_call(
    content: str,
    context: Mapping[str, Any] | None,
    rulebook: str | None,
    webhook_url: str | None,
    idempotency_key: str | None,
) -> Call:
    """POST /api/v1/analysis/screen, replayable like `submit_call`."""
    body: dict[str, Any] = {"content": content}
    if context is not None:
        body["context"] = dict(context)
    if rulebook is not None:
        body["rulebook"] = rulebook
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    return _post("/api/v1/analysis/screen", body, idempotency_key,
                 retry_statuses=frozenset({409, 429, 503}))  # fmt: skip


def submit_to_call(path: str, body: Mapping[str, Any], idempotency_key: str | None) -> Call:
    """POST `body` to the create route `path` of any job type, replayable like
    `submit_call`."""
    return _post(path, dict(body), idempotency_key, retry_statuses=frozenset({409, 429, 503}))


def get_call(job_id: str, wait: int = 0) -> Call:
    """GET /api/v1/jobs/{id}, long-polling `wait` seconds (0-60)."""
    path = _query(f"/api/v1/jobs/{_segment(job_id)}", {"wait": wait or None})
    return Call("GET", path, extra_timeout=float(wait))


def list_call(status: str | None, job_type: str | None, limit: int, cursor: str | None) -> Call:
    params = {"status": status, "type": job_type, "limit": limit, "cursor": cursor}
    return Call("GET", _query("/api/v1/jobs", params))


def pools_call() -> Call:
    return Call("GET", "/api/v1/pools")


def trace_call(job_id: str, level: str) -> Call:
    path = _query(f"/traces/{_segment(job_id)}", {"level": level})
    return Call("GET", path, headers={"Accept": "application/json"})


def deliveries_call(job_id: str) -> Call:
    return Call("GET", f"/api/v1/jobs/{_segment(job_id)}/deliveries")


def redeliver_call(job_id: str, idempotency_key: str | None) -> Call:
    """POST …/deliveries/redeliver. It carries an Idempotency-Key like every POST, but
    the server does not deduplicate redeliveries, so it is resent only when it surely
    never arrived (429, 503, a connection never made)."""
    path = f"/api/v1/jobs/{_segment(job_id)}/deliveries/redeliver"
    return _post(path, None, idempotency_key, replayable=False)


def default_headers(api_key: str) -> dict[str, str]:
    return {"X-API-Key": api_key, "Accept": "application/json", "User-Agent": USER_AGENT}


def read_answer(answer: Answer) -> dict[str, Any]:
    """The JSON object of a 2xx answer; raises the `NexioError` of any other answer,
    and `InvalidResponse` for a 2xx that is not a JSON object."""
    if not 200 <= answer.status < 300:
        raise error_from_answer(answer.status, answer.headers, answer.body)
    try:
        parsed = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidResponse(
            f"expected a JSON object, got {answer.body[:80]!r}",
            status=answer.status,
            code="invalid_response",
            request_id=answer.headers.get("x-request-id"),
        )
    return parsed


@attrs.frozen
class RetryPolicy:
    """When to send a request again, as a value.

    At most `max_retries` resends, sleeping at most `max_total_wait` seconds in all.
    An answer's `Retry-After` is honoured exactly (never resent sooner); without one,
    the delays are `backoff`, 2×, 4×… up to `max_backoff`. When the next delay would
    go past `max_total_wait`, the client gives up at once with the last error rather
    than retry early. `max_retries=0` turns retries off."""

    max_retries: int = 3
    max_total_wait: float = 30.0
    backoff: float = 0.5
    max_backoff: float = 8.0

    def delay(
        self, call: Call, failure: NexioError | SendFailed, retries: int, waited: float
    ) -> float | None:
        """Seconds to sleep before resending `call` after `failure`, when it has been
        resent `retries` times so far after `waited` seconds of sleeping in all; None
        to give up (and raise `failure`)."""
        if retries >= self.max_retries or not _retryable(call, failure):
            return None
        hinted = failure.retry_after if isinstance(failure, NexioError) else None
        delay = hinted if hinted is not None else min(self.backoff * 2**retries, self.max_backoff)
        return delay if waited + delay <= self.max_total_wait else None


def _retryable(call: Call, failure: NexioError | SendFailed) -> bool:
    if isinstance(failure, SendFailed):
        return call.replayable or not failure.sent
    return failure.status in call.retry_statuses
