"""JSON responses and the error body of API.md §3."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nexio_lite.errors import ApiError
from nexio_lite.fields import Query
from nexio_lite.jsontext import dumps

JSON = "application/json"


def json_text(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A response from JSON text that is already serialized."""
    return web.Response(text=text, status=status, content_type=JSON, headers=headers)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return json_text(dumps(body), status, headers)


def error_response(err: ApiError) -> web.Response:
    return json_response(err.body(), err.status, err.headers or None)


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", message)


def bad_request(message: str, details: list[dict[str, Any]] | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, details)


def query_values(request: web.Request, params: tuple[Query, ...]) -> dict[str, Any]:
    """The declared query parameters of `request`, parsed, defaults for absent ones; the
    first invalid one answers 400 with its message."""
    values: dict[str, Any] = {}
    query = request.query
    for param in params:
        try:
            values[param.name] = param.parse(query.get(param.name))
        except ValueError as exc:
            raise bad_request(str(exc)) from None
    return values
