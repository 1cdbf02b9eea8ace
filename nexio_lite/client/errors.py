"""The client's exception tree.

Guarantees:

- Every error answer of the API raises a `NexioError` carrying `status`, `code`,
  `message` and `details` exactly as the body said (API.md §3), or, where the body is
  not the API's JSON error (a proxy's page, the HTTP parser's plain text), `code`
  `http_<status>` and the start of the body as `message`.
- The subclass follows the status: 400/413/415 `InvalidRequest`, 422 `Unprocessable`
  (also an `InvalidRequest`: fix the request, don't resend it), 401 `Unauthorized`,
  403 `Forbidden`, 404 `NotFound`, 409 `Conflict`, 429 `RateLimited`, 503
  `Unavailable`, any other 5xx `ServerError`; any other status the base class.
- Failures with no answer raise `ConnectionFailed` (also a builtin `ConnectionError`),
  `Client.wait` running out of time raises `WaitTimeout` (also a builtin
  `TimeoutError`), and an answer that is not the JSON the API documents raises
  `InvalidResponse`. Their `status` is None unless an answer was read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from nexio_lite.client.models import Job

MESSAGE_EXCERPT = 200  # characters of a non-JSON error body kept as the message


class NexioError(Exception):
    """An error answer from the service, or no usable answer at all."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        details: Any = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: Any = [] if details is None else details
        self.retry_after = retry_after
        self.request_id = request_id

    def __str__(self) -> str:
        head = f"{self.status} {self.code}" if self.status is not None else self.code
        return f"{head}: {self.message}"


class InvalidRequest(NexioError):
    """400, 413, 415: the request itself is wrong (`details` lists every problem)."""


class Unprocessable(InvalidRequest):
    """422: unknown pool, an Idempotency-Key reused with another body, a refused
    webhook URL."""


class Unauthorized(NexioError):
    """401: the API key is missing, unknown or revoked."""


class Forbidden(NexioError):
    """403: the key lacks the scope this call needs."""


class NotFound(NexioError):
    """404: no such job, trace or pool in this organization."""


class Conflict(NexioError):
    """409: a request with this Idempotency-Key is still in progress, or a redelivery
    of a job that is not terminal or has no webhook URL."""


class RateLimited(NexioError):
    """429: over the key's request rate; `retry_after` says when to come back."""


class ServerError(NexioError):
    """A 5xx other than 503: a bug on the server (its `request_id` finds it in the logs)."""


class Unavailable(ServerError):
    """503: the service cannot do it now; nothing was half-written."""


class ConnectionFailed(NexioError, ConnectionError):
    """No answer: the connection could not be made, broke, or timed out."""


class InvalidResponse(NexioError):
    """An answer that is not what the API documents (not JSON, or missing fields)."""


class WaitTimeout(NexioError, TimeoutError):
    """`wait()` ran out of time; `job` is the last state seen (not terminal)."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message, code="wait_timeout")
        self.job = job


_BY_STATUS: dict[int, type[NexioError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    415: InvalidRequest,
    422: Unprocessable,
    429: RateLimited,
    503: Unavailable,
}


def error_class(status: int) -> type[NexioError]:
    """The exception class for an error answer with this status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else NexioError


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (a non-negative number), None when absent or not a
    number (an HTTP date is not used by this API and is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds != float("inf") else None


def error_from_answer(status: int, headers: Mapping[str, str], body: bytes) -> NexioError:
    """The exception for an error answer; `headers` has lower-case names."""
    code, message, details = f"http_{status}", "", None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code = error["code"]
        message = str(error.get("message", ""))
        details = error.get("details")
    else:
        message = body[:MESSAGE_EXCERPT].decode("utf-8", "replace").strip()
    return error_class(status)(
        message or f"HTTP {status}",
        status=status,
        code=code,
        details=details,
        retry_after=retry_after_seconds(headers.get("retry-after")),
        request_id=headers.get("x-request-id"),
    )
