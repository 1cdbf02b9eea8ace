"""One exception tree. API errors carry what the HTTP layer needs to answer."""

from __future__ import annotations

from typing import Any


class NexioError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(NexioError):
    """A setting is unknown or has a bad value; the message names the key."""


class StoreError(NexioError):
    """The database failed in a way the caller cannot fix (translated from aiosqlite)."""


class Unavailable(NexioError):
    """The service cannot do it now, through no fault of the request (a full disk, a
    database that does not answer, a scoring process being replaced). Nothing was half
    written; the same request can be sent again (503 `unavailable` with Retry-After)."""

    retry_after_seconds = 1


class StoreUnavailable(StoreError, Unavailable):
    """The database refused for a reason that passes (full disk, I/O error, locked,
    read-only): translated from the driver's error codes."""


class NotFound(NexioError):
    """A record does not exist (or belongs to another organization)."""


class Conflict(NexioError):
    """A state transition was refused (e.g. a claim token no longer matches)."""


class ApiError(NexioError):
    """An error answered to an HTTP client: status, code, message and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}
